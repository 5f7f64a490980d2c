/** go-livepeer's capability ids and names (core/capabilities.go CapabilityNameLookup). */
export const CAPABILITY_NAMES: Readonly<Record<number, string>> = {
  0: "H.264", 1: "MPEGTS", 2: "MP4", 3: "Fractional framerates", 4: "Storage direct", 5: "Storage S3",
  6: "Storage GCS", 7: "H264 Baseline profile", 8: "H264 Main profile", 9: "H264 High profile",
  10: "H264 Constrained, Contained High profile", 11: "GOP", 12: "Auth token", 14: "MPEG7 signature",
  15: "HEVC decode", 16: "HEVC encode", 17: "VP8 decode", 18: "VP9 decode", 19: "VP8 encode",
  20: "VP9 encode", 21: "H264 Decode YUV444 8-bit", 22: "H264 Decode YUV422 8-bit",
  23: "H264 Decode YUV444 10-bit", 24: "H264 Decode YUV422 10-bit", 25: "H264 Decode YUV420 10-bit",
  26: "Segment slicing", 27: "Text to image", 28: "Image to image", 29: "Image to video", 30: "Upscale",
  31: "Audio to text", 32: "Segment anything 2", 33: "Llm", 34: "Image to text", 35: "Live video to video",
  36: "Text to speech", 37: "byoc",
};

export const CAPABILITY_LIVE_VIDEO_TO_VIDEO = 35;

/** The reference's PipelineToCapability: "live-video-to-video" → 35; undefined when unknown. */
export function pipelineToCapability(pipeline: string): number | undefined {
  if (pipeline === "") return undefined;
  const name = pipeline[0]!.toUpperCase() + pipeline.slice(1).replaceAll("-", " ");
  for (const [id, desc] of Object.entries(CAPABILITY_NAMES)) if (desc === name) return Number(id);
  return undefined;
}

/** The discovery key's pipeline part: lowercase name with spaces as dashes ("live-video-to-video"). */
export function capabilityPipeline(capability: number): string | undefined {
  const name = CAPABILITY_NAMES[capability];
  return name === undefined ? undefined : name.toLowerCase().replaceAll(" ", "-");
}
