/**
 * Serves a fetch handler on Bun or Deno, whichever runs us. Both stop accepting on `stop()` and
 * let in-flight requests finish.
 */
export interface Listener {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  tls: { cert: string; key: string } | null;
}

type Fetch = (req: Request, info: { remoteAddress: string | null }) => Response | Promise<Response>;

export async function listen(fetch: Fetch, opts: ListenOptions): Promise<Listener> {
  const scheme = opts.tls ? "https" : "http";
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (typeof Bun !== "undefined") {
    const server = Bun.serve({
      hostname: opts.host,
      port: opts.port,
      // 10 MiB above the webhook limit: the webhook route enforces its own limit and answers 413
      // with a JSON body, and an API call (a check of up to 10,000 addresses) needs the room.
      maxRequestBodySize: opts.maxBodyBytes + 64 * 1024 + 10 * 1024 * 1024,
      ...(opts.tls ? { tls: { cert: Bun.file(opts.tls.cert), key: Bun.file(opts.tls.key) } } : {}),
      // Asked while Bun is still in the request's handler: asked later (after the response, in
      // the request log) the same call took 16% of the daemon's CPU under ingest (profiled).
      fetch: (req, srv) => fetch(req, { remoteAddress: srv.requestIP(req)?.address ?? null }),
    });
    const port = server.port ?? opts.port;
    return { url: `${scheme}://${dialableHost(opts.host)}:${port}`, port, stop: () => server.stop(false) };
  }
  if (deno) {
    const tls = opts.tls
      ? { cert: await deno.readTextFile(opts.tls.cert), key: await deno.readTextFile(opts.tls.key) }
      : {};
    let resolvePort: (p: number) => void = () => {};
    const ready = new Promise<number>((r) => {
      resolvePort = r;
    });
    const server = deno.serve(
      { hostname: opts.host, port: opts.port, onListen: ({ port }) => resolvePort(port), ...tls },
      (req, info) => fetch(req, { remoteAddress: info?.remoteAddr?.hostname ?? null }),
    );
    const port = await ready;
    return { url: `${scheme}://${dialableHost(opts.host)}:${port}`, port, stop: () => server.shutdown() };
  }
  throw new Error("suppressd runs on Bun or Deno.");
}

/**
 * The host part of a URL that reaches a daemon bound to `host`: a wildcard bind (0.0.0.0, ::) is
 * reached over loopback of the same family, an IPv6 address goes in brackets (RFC 3986 §3.2.2).
 */
export function dialableHost(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  const name = bare === "0.0.0.0" ? "127.0.0.1" : bare === "::" ? "::1" : bare;
  return name.includes(":") ? `[${name}]` : name;
}

interface DenoLike {
  readTextFile(path: string): Promise<string>;
  serve(
    opts: Record<string, unknown> & { onListen: (a: { port: number }) => void },
    handler: (req: Request, info: { remoteAddr?: { hostname?: string } }) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
}
