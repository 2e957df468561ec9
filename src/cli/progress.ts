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
          format: 'round {value}/{total} |{bar}| accuracy {accuracy}  loss {loss}{epsilon}  {eta_formatted} left',
          barsize: 30,
          hideCursor: true,
        });
        bar.start(rounds, 0, { accuracy: '-', loss: '-', epsilon: '' });
      }
    },
    onRound(round: RoundReport) {
      const values = {
        accuracy: round.accuracy.toFixed(4),
        loss: round.loss.toFixed(4),
        epsilon: round.epsilon === undefined ? '' : `  epsilon ${round.epsilon.toFixed(3)}`,
      };
      if (bar) bar.update(round.round, values);
      else stream.write(`round ${round.round}/${total}  accuracy ${values.accuracy}  loss ${values.loss}${values.epsilon}  ${round.seconds.toFixed(2)} s\n`);
    },
    onStop(stop) {
      bar?.stop();
      bar = undefined;
      stream.write(`stopped after round ${stop.afterRound}: ${stop.reason}\n`);
    },
    stop() {
      bar?.stop();
    },
  };
}
