/** Gradient leakage, shown by attack: inversion attacks on one client's update and the views of a coordinator under each privacy mode. */
export { mse, ssim, type SsimOptions } from './image-similarity.js';
export { firstLayerOf, inferLabel, invertFirstLayer, unitReconstruction, type FirstLayer } from './first-layer-inversion.js';
export { matchGradients, type MatchGradientsParameters, type MatchGradientsResult } from './gradient-matching.js';
export { attackUpdate, reconstruct, scoreImage, type AttackerKnowledge, type LeakageOutcome, type Reconstructions, type Score } from './gradient-leakage.js';
export { dpSgdDelta, localDpDelta, plainDelta, secAggDpContribution, type DpRelease, type LeakageClient, type LeakageDp } from './client-update.js';
export { secAggView, type SecAggView, type SecAggViewParameters } from './secagg-view.js';
export { ckksView, type CkksView, type CkksViewParameters } from './ckks-view.js';
export { LEAKAGE_VIEWS, runLeakageStudy, type LeakageStudy, type LeakageStudyParameters, type LeakageView, type TargetResult, type ViewResult } from './leakage-study.js';
