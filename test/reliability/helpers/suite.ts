import { afterAll } from "bun:test";
import { tempDir } from "../../helpers/app.ts";
import { emptyFigures, type Figures, summaryLine } from "./figures.ts";

/**
 * The start every scenario file shares: a temporary directory for its daemons and databases, the
 * figures its tests add to, and, once they have run, the `reliability <name>: …` line that
 * docs/reliability.md quotes, then the directory removed. Call it at the top of the file.
 * (Apart from figures.ts because bench/soak.ts uses that outside `bun test`.)
 */
export function scenarioFile(name: string): { dir: string; figures: Figures } {
  const tmp = tempDir(`suppressd-${name}-`);
  const figures = emptyFigures();
  afterAll(() => {
    console.log(summaryLine(name, figures));
    tmp.cleanup();
  });
  return { dir: tmp.dir, figures };
}
