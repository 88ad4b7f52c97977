import { expect } from "bun:test";
import { authHeaders } from "./daemon.ts";
import { fixture, signedHeaders } from "./sign.ts";

/**
 * The end-to-end check that the source (smoke), the compiled binary and Deno must each pass:
 * Resend's permanent-bounce fixture, signed, posted to the daemon at `url` is answered 200
 * `processed` only after its commit, and its recipient then reads back as suppressed
 * (`hard_bounce`), by address and through the pre-campaign check, while another address does not.
 */
export async function expectSignedBounceSuppresses(url: string): Promise<void> {
  const body = fixture("email.bounced.permanent");
  const res = await fetch(`${url}/webhooks/resend`, { method: "POST", body, headers: signedHeaders(body) });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: "processed" });

  const got = await fetch(`${url}/v1/suppressions/delivered@example.com`, { headers: authHeaders() });
  expect(got.status).toBe(200);
  expect(((await got.json()) as { reason: string }).reason).toBe("hard_bounce");

  const check = await fetch(`${url}/v1/suppressions/check`, {
    method: "POST",
    headers: authHeaders(),
    body: JSON.stringify({ emails: ["delivered@example.com", "someone-else@example.com"] }),
  });
  expect(check.status).toBe(200);
  const result = (await check.json()) as { suppressed: { email: string; reason: string }[] };
  expect(result.suppressed).toEqual([
    expect.objectContaining({ email: "delivered@example.com", reason: "hard_bounce" }),
  ]);
}
