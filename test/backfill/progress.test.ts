import { expect, test } from "bun:test";
import { Progress } from "../../src/backfill/progress.ts";

test("progress: a line every 10 s when not a terminal; a bar redrawn in place on one", () => {
  const now = { v: 0 };
  const plain: string[] = [];
  const p = new Progress({ write: (s: string) => plain.push(s) }, () => now.v);
  for (let i = 1; i <= 30; i++) {
    now.v = i * 1000;
    p.update("resend suppressions", i * 100, null, i * 50);
  }
  expect(plain).toEqual([
    "resend suppressions: 1,000 read, 500 new (100 rows/s)\n",
    "resend suppressions: 2,000 read, 1,000 new (100 rows/s)\n",
    "resend suppressions: 3,000 read, 1,500 new (100 rows/s)\n",
  ]);
  const tty: string[] = [];
  now.v = 0;
  const bar = new Progress({ write: (s: string) => tty.push(s), isTTY: true }, () => now.v);
  now.v = 1000;
  bar.update("mailchimp news aud cleaned", 500, 1000, 500);
  bar.finish();
  expect(tty).toEqual([
    "\r\x1b[2Kmailchimp news aud cleaned: [############            ] 500 / 1,000 read, 500 new (500 rows/s)",
    "\n",
  ]);
});
