/** @jsxImportSource hono/jsx */
import type { Child } from "hono/jsx";
import { CSS } from "../style.ts";

/** The page frame: one inline stylesheet (its hash is in the CSP), no script, no external asset. */
export function Layout(props: { title: string; children: Child; header?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{props.title}</title>
        <style dangerouslySetInnerHTML={{ __html: CSS }} />
      </head>
      <body>
        {props.header}
        {props.children}
      </body>
    </html>
  );
}

/** The bar above a logged-in page: where to go, and the logout form (a POST with the CSRF token). */
export function TopBar(props: { base: string; csrf: string }) {
  const links = [
    ["overview", "Overview"],
    ["sinks", "Sinks"],
    ["lookup", "Look up"],
    ["changes", "Recent changes"],
    ["quarantine", "Quarantine"],
  ] as const;
  return (
    <header>
      <h1>suppressd status</h1>
      <nav aria-label="Sections">
        <ul>
          {links.map(([id, text]) => (
            <li>
              <a href={`${props.base}#${id}`}>{text}</a>
            </li>
          ))}
        </ul>
      </nav>
      <form class="inline" method="post" action={`${props.base}/logout`}>
        <input type="hidden" name="csrf" value={props.csrf} />
        <button type="submit" class="plain">
          Log out
        </button>
      </form>
    </header>
  );
}

export function LoginPage(props: { base: string; csrf: string; error: string | null }) {
  return (
    <Layout title="suppressd: log in">
      <main class="login">
        <h1>suppressd status</h1>
        <p>Log in with an API token (api.tokens) or a status page token (ui.tokens).</p>
        {props.error ? (
          <p class="warn" role="alert">
            {props.error}
          </p>
        ) : null}
        <form method="post" action={`${props.base}/login`}>
          <input type="hidden" name="csrf" value={props.csrf} />
          <label for="token">Token</label>
          <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
          <button type="submit">Log in</button>
        </form>
      </main>
    </Layout>
  );
}

/** A refused request, in words, with the way back. */
export function ErrorPage(props: { base: string; status: number; message: string }) {
  return (
    <Layout title={`suppressd: ${props.status}`}>
      <main class="login">
        <h1>{props.status === 403 ? "Refused" : "Something is wrong"}</h1>
        <p role="alert">{props.message}</p>
        <p>
          <a href={props.base}>Back to the status page</a>
        </p>
      </main>
    </Layout>
  );
}
