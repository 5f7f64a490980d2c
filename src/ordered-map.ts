/**
 * Deletes entries from the front of a map whose order is age order (oldest first: a Map keeps
 * insertion order, and a use re-inserts) until the front entry is fresh and at most maxSize
 * remain. The bounded caches and windows that drop what is old or over their size share this.
 */
export function dropOldest<K, V>(map: Map<K, V>, isFresh: (value: V) => boolean, maxSize: number): void {
  for (const [key, value] of map) {
    if (isFresh(value) && map.size <= maxSize) return;
    map.delete(key);
  }
}
