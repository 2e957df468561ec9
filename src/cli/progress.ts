import { SingleBar } from 'cli-progress';
import type { JobObserver, RoundReport } from '../fl/index.js';

/** A job observer that draws a progress bar on a terminal, or prints one line per round otherwise. */
export function progressObserver(stream: NodeJS.WriteStream = process.stderr): JobObserver & { stop(): void } {
  let bar: SingleBar | undefined;
  let total = 0;
  return {
    onStart({ jobId, rounds, clients }) {
      total = rounds;
      stream.write(`job ${jobId}: ${rounds} rounds, ${clients} clients\n`);
      if (stream.isTTY) {
        bar = new SingleBar({
          stream,
          format: 'round {value}/{total} |{bar}| accuracy {accuracy}  loss {loss}  {eta_formatted} left',
          barsize: 30,
          hideCursor: true,
        });
        bar.start(rounds, 0, { accuracy: '-', loss: '-' });
      }
    },
    onRound(round: RoundReport) {
      const values = { accuracy: round.accuracy.toFixed(4), loss: round.loss.toFixed(4) };
      if (bar) bar.update(round.round, values);
      else stream.write(`round ${round.round}/${total}  accuracy ${values.accuracy}  loss ${values.loss}  ${round.seconds.toFixed(2)} s\n`);
    },
    stop() {
      bar?.stop();
    },
  };
}
