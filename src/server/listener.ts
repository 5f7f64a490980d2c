import { createServer as createHttpServer, ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders, type Server as HttpServer } from "node:http";
import {
  constants as h2constants,
  createServer as createHttp2Server,
  createSecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2SecureServer,
  type ServerHttp2Stream,
} from "node:http2";
import type { Socket } from "node:net";

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;
export type Handler = (req: AnyRequest, res: AnyResponse) => void;

/** A bound on every connection state; all in milliseconds except the counts. */
export interface ConnectionLimits {
  /** A new connection must send its first bytes (or finish its TLS handshake) within this. */
  firstByteMs: number;
  /** HTTP/1: the request headers must arrive within this. */
  headersMs: number;
  /** HTTP/1: the whole request, body included, within this; HTTP/2: a stream's request half likewise. */
  requestMs: number;
  /** HTTP/1: an idle keep-alive connection is closed after this. */
  keepAliveMs: number;
  /** HTTP/2: a session with no activity is closed after this. */
  sessionIdleMs: number;
  /** Open connections, all protocols; more are refused at accept. */
  maxConnections: number;
  /** HTTP/2 streams open at once on one session (advertised in SETTINGS). */
  maxConcurrentStreams: number;
  /** HTTP/2: an answered stream its peer has not read is cancelled after one to two of these. */
  unreadMs: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  firstByteMs: 10_000,
  headersMs: 20_000,
  requestMs: 30_000,
  // Longer than common load-balancer idle timeouts (60 s) and any gateway's payment interval
  // (go-livepeer's is 5 s): a client never reuses a connection the signer has just closed.
  keepAliveMs: 65_000,
  sessionIdleMs: 65_000,
  maxConnections: 4096,
  maxConcurrentStreams: 100,
  unreadMs: 5000,
};

export interface Listener {
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  /** Stops accepting, lets in-flight requests finish for up to drainMs, then closes what remains. */
  close(drainMs: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * One port for every protocol. With TLS, ALPN picks h2 or HTTP/1.1. In cleartext the HTTP/1.1
 * server listens, so Node's own header, request and keep-alive timers and connection tracking
 * run; its connection handler is preceded by a sniffer that passes connections starting with
 * the HTTP/2 preface to the HTTP/2 server instead.
 */
export function createListener(handler: Handler, opts: { limits: ConnectionLimits; tls?: { cert: string; key: string } }): Listener {
  const limits = opts.limits;
  const h2Options = {
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams },
    // nghttp2's per-session buffer bound, MB (Node's default, stated).
    maxSessionMemory: 10,
  };
  const sessions = new Set<{ close(): void; destroy(): void }>();
  /** Streams open on each HTTP/2 session: one with none is idle. */
  const openStreams = new Map<{ close(): void }, number>();
  const unread = trackUnreadEnds(limits.unreadMs);
  const trackH2 = (server: Http2Server | Http2SecureServer) => {
    server.setTimeout(limits.sessionIdleMs);
    server.on("session", (s) => {
      sessions.add(s);
      openStreams.set(s, 0);
      s.on("close", () => {
        sessions.delete(s);
        openStreams.delete(s);
      });
    });
    server.on("stream", (stream) => {
      boundRequestHalf(stream, limits.requestMs);
      unread.add(stream);
      const session = stream.session;
      if (!session) return;
      openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
      stream.once("close", () => openStreams.has(session) && openStreams.set(session, openStreams.get(session)! - 1));
    });
  };

  let front: HttpServer | Http2SecureServer;
  let closeIdleHttp1: () => void = () => {};
  const sniffing = new Set<Socket>();
  if (opts.tls) {
    const secure = createSecureServer(
      {
        ...h2Options,
        cert: opts.tls.cert,
        key: opts.tls.key,
        allowHTTP1: true,
        Http1ServerResponse: Http1Response,
        handshakeTimeout: limits.firstByteMs,
      },
      handler,
    );
    trackH2(secure);
    setHttp1Timers(secure, limits);
    front = secure;
  } else {
    const http1 = createHttpServer({ ServerResponse: Http1Response }, handler);
    setHttp1Timers(http1, limits);
    closeIdleHttp1 = () => http1.closeIdleConnections();
    const h2 = createHttp2Server(h2Options, handler);
    trackH2(h2);
    const [http1Connection] = http1.listeners("connection") as ((socket: Socket) => void)[];
    http1.removeAllListeners("connection");
    http1.on("connection", (socket: Socket) => {
      sniffing.add(socket);
      sniff(socket, limits.firstByteMs, (isH2) => {
        sniffing.delete(socket);
        if (isH2) {
          // The HTTP/1.1 server's sockets allow half-open; an h2 session should close with its peer.
          socket.allowHalfOpen = false;
          h2.emit("connection", socket);
        } else {
          http1Connection!.call(http1, socket);
        }
      });
    });
    front = http1;
  }
  front.maxConnections = limits.maxConnections;
  // Idle keep-alive connections live long (keepAliveMs): near the cap they are closed first, so
  // a new client is served rather than refused for connections nobody is using.
  const pressure = limits.maxConnections - Math.max(1, Math.floor(limits.maxConnections / 16));
  const sockets = new Set<Socket>();
  front.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (sockets.size >= pressure) {
      closeIdleHttp1();
      for (const [session, streams] of openStreams) if (streams === 0) session.close();
    }
  });

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        front.once("error", reject);
        front.listen(port, host, () => {
          front.off("error", reject);
          const addr = front.address();
          resolve({ host, port: typeof addr === "object" && addr ? addr.port : port });
        });
      });
    },
    async close(drainMs) {
      // Closing the HTTP/1.1 server also closes its idle keep-alive connections.
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const socket of sniffing) socket.destroy();
      for (const s of sessions) s.close();
      unread.stop();
      const deadline = setTimeout(() => {
        for (const s of sessions) s.destroy();
        for (const socket of sockets) socket.destroy();
      }, drainMs);
      deadline.unref();
      await closed;
      clearTimeout(deadline);
    },
  };
}

function setHttp1Timers(server: HttpServer | Http2SecureServer, limits: ConnectionLimits): void {
  const s = server as HttpServer;
  s.headersTimeout = limits.headersMs;
  s.requestTimeout = limits.requestMs;
  s.keepAliveTimeout = limits.keepAliveMs;
  // Node checks the header and request deadlines on this interval (default 30 s): keep it finer
  // than the shortest deadline so they fire close to on time.
  (s as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(
    10,
    Math.min(1000, Math.floor(Math.min(limits.headersMs, limits.requestMs) / 4)),
  );
}

/** Waits for a connection's first bytes (bounded), then says whether they start the h2 preface. */
function sniff(socket: Socket, firstByteMs: number, route: (isH2: boolean) => void): void {
  // A reset before the first byte must not become an unhandled 'error' event.
  const ignore = () => {};
  socket.on("error", ignore);
  // The listening server allows half-open sockets: one that ends before any byte is done.
  const ended = () => socket.destroy();
  socket.once("end", ended);
  const timer = setTimeout(() => socket.destroy(), firstByteMs);
  socket.once("close", () => clearTimeout(timer));
  socket.once("readable", function read() {
    const chunk: Buffer | null = socket.read();
    if (chunk === null) {
      socket.once("readable", read);
      return;
    }
    clearTimeout(timer);
    socket.off("error", ignore);
    socket.off("end", ended);
    const prefix = chunk.subarray(0, Math.min(chunk.length, PREFACE.length));
    // A prefix shorter than the preface that matches so far is treated as h2: clients send it whole.
    socket.unshift(chunk);
    route(PREFACE.subarray(0, prefix.length).equals(prefix));
  });
}

/**
 * HTTP/2 streams the signer has answered but whose peer does not read (a flow-control window
 * left at zero, kept open with PINGs): the answer waits in memory for as long as the session
 * lives. One still unread at two sweeps in a row (unreadMs apart) is cancelled.
 */
function trackUnreadEnds(sweepMs: number) {
  const streams = new Set<ServerHttp2Stream>();
  const endedAtLastSweep = new WeakSet<ServerHttp2Stream>();
  let timer: NodeJS.Timeout | undefined;
  const sweep = () => {
    const unread: ServerHttp2Stream[] = [];
    for (const stream of streams) {
      if (!stream.writableEnded) continue;
      if (endedAtLastSweep.has(stream)) unread.push(stream);
      else endedAtLastSweep.add(stream);
    }
    inTurns(unread, (stream) => {
      if (!stream.closed && !stream.destroyed) stream.close(h2constants.NGHTTP2_CANCEL);
    });
  };
  return {
    add(stream: ServerHttp2Stream): void {
      streams.add(stream);
      stream.once("close", () => streams.delete(stream));
      if (!timer) {
        timer = setInterval(sweep, sweepMs);
        timer.unref();
      }
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}

/** Items handled per turn of the event loop when many are closed at once. */
const PER_TURN = 32;

/**
 * Runs `act` on each item, PER_TURN of them per turn of the event loop: a flood's streams,
 * opened together, come due together, and closing a thousand in one turn would stall the
 * payments queued behind it.
 */
export function inTurns<T>(items: T[], act: (item: T) => void): void {
  const batch = items.splice(0, PER_TURN);
  for (const item of batch) act(item);
  if (items.length > 0) setImmediate(() => inTurns(items, act));
}

/** An HTTP/2 stream whose request half is still open after requestMs is cancelled. */
function boundRequestHalf(stream: ServerHttp2Stream, requestMs: number): void {
  const timer = setTimeout(() => {
    if (!stream.closed && !stream.destroyed && !stream.state.remoteClose) stream.close(h2constants.NGHTTP2_CANCEL);
  }, requestMs);
  timer.unref();
  stream.once("close", () => clearTimeout(timer));
}

/**
 * HTTP/1.1 responses (Node's documented ServerResponse option): a response that starts while
 * its request body is still unread (a refused oversized request) says "Connection: close" and
 * ends the connection, so the client never sends its next request after bytes the server did
 * not read. A request without a body is never affected.
 */
class Http1Response extends ServerResponse {
  override writeHead(status: number, message?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    const req = this.req;
    const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
    if (hasBody && !req.complete && !this.headersSent) this.setHeader("Connection", "close");
    return typeof message === "string" ? super.writeHead(status, message, headers) : super.writeHead(status, message);
  }
}
