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
      // A little above the webhook limit so the route can answer 413 with a JSON body itself.
      maxRequestBodySize: opts.maxBodyBytes + 64 * 1024 + 10 * 1024 * 1024,
      ...(opts.tls ? { tls: { cert: Bun.file(opts.tls.cert), key: Bun.file(opts.tls.key) } } : {}),
      fetch: (req, srv) => fetch(req, { remoteAddress: srv.requestIP(req)?.address ?? null }),
    });
    const port = server.port ?? opts.port;
    return { url: `${scheme}://${hostFor(opts.host)}:${port}`, port, stop: () => server.stop(false) };
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
    return { url: `${scheme}://${hostFor(opts.host)}:${port}`, port, stop: () => server.shutdown() };
  }
  throw new Error("suppressd runs on Bun or Deno.");
}

function hostFor(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

interface DenoLike {
  readTextFile(path: string): Promise<string>;
  serve(
    opts: Record<string, unknown> & { onListen: (a: { port: number }) => void },
    handler: (req: Request, info: { remoteAddr?: { hostname?: string } }) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
}
