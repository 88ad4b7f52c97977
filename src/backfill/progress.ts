/**
 * Progress of a long read, on standard error: a bar redrawn in place on a terminal, a line every
 * `everyMs` otherwise (a log file or journald would keep every redraw). The total is known for a
 * Mailchimp audience (`total_items`), not for Resend's listings: the bar then shows a count.
 */
export class Progress {
  private last = 0;
  private readonly started: number;
  private drawn = false;

  constructor(
    private readonly out: { write(s: string): unknown; isTTY?: boolean },
    private readonly clock: () => number = Date.now,
    private readonly everyMs = 10_000,
  ) {
    this.started = clock();
  }

  update(label: string, done: number, total: number | null, written: number) {
    const now = this.clock();
    const tty = this.out.isTTY === true;
    if (!tty && now - this.last < this.everyMs) return;
    if (tty && now - this.last < 100) return;
    this.last = now;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = `${Math.round(done / seconds).toLocaleString("en")} rows/s`;
    const counts = `${done.toLocaleString("en")}${total === null ? "" : ` / ${total.toLocaleString("en")}`} read, ${written.toLocaleString("en")} new`;
    if (!tty) {
      this.out.write(`${label}: ${counts} (${rate})\n`);
      return;
    }
    const width = 24;
    const filled = total ? Math.min(width, Math.round((done / Math.max(1, total)) * width)) : 0;
    const bar = total ? `[${"#".repeat(filled)}${" ".repeat(width - filled)}] ` : "";
    this.out.write(`\r\x1b[2K${label}: ${bar}${counts} (${rate})`);
    this.drawn = true;
  }

  /** Ends the bar's line so the next output starts on its own. */
  finish() {
    if (this.drawn) this.out.write("\n");
    this.drawn = false;
    this.last = 0;
  }
}
