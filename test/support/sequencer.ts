import { relative, sep } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Vitest's order (failed first, then longest by its cache, else largest file), with the end-to-end files of `test/`
 * ahead of the unit files. A fresh checkout has no cache, and file size says little about time: the multi-process
 * files (a network job of each privacy mode, the edge tier, the attacks) take 80-260 s each against seconds for a
 * unit file, and one of them started last kept a worker busy minutes after the other had finished (853 s in all in
 * the CI run of cfb4bf5, of 1,464 s of files on two workers).
 */
export class EndToEndFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const endToEnd = sorted.filter((file) => relative(file.project.config.root, file.moduleId).startsWith(`test${sep}`));
    return [...endToEnd, ...sorted.filter((file) => !endToEnd.includes(file))];
  }
}
