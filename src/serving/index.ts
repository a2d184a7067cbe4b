/** serving: model runtimes (ONNX in-process, Mobius JSON, MLflow pyfunc out of process), signatures, the Open Inference Protocol, deployments. */
export { ServingService, loadModel } from './serving-service.js';
export type {
  CallInfo,
  DeploymentMetadata,
  DeploymentPlan,
  DeployOptions,
  LiveRouteInfo,
  LoadOptions,
  ModelSource,
  RoutePlan,
  RouteStats,
  Served,
} from './serving-service.js';
export type { ModelFile } from './model-files.js';
export { DeploymentService, DEFAULT_ANALYSIS, parseModelRef } from './deployment-service.js';
export type {
  AbArm,
  AnalysisSpec,
  DeletedDeployment,
  DeployInput,
  DeploymentEvent,
  DeploymentState,
  DeploymentView,
  MirrorSpec,
  ResolveModel,
  ResolvedModel,
  RouteSpec,
} from './deployment-service.js';
export { PredictionLog } from './prediction-log.js';
export type { PredictionLogOptions, PredictionRecord, PredictionSink } from './prediction-log.js';
export { EvenSequence, pickWeighted, stickyPoint } from './traffic-router.js';
export { parseInferRequest, recordsToInputs, outputsToRecords } from './oip.js';
export type { InferRequest, InferResponse } from './oip.js';
export { DATATYPES, isDatatype } from './signature.js';
export type { Datatype, ModelSignature, Tensor, TensorSpec, TensorData } from './signature.js';
export type { ModelRuntime } from './runtime.js';
export { OnnxRuntime, sniffModelBytes } from './runtimes/onnx-runtime.js';
export { JsonModelRuntime, parseJsonModel } from './runtimes/json-model.js';
export type { JsonModel } from './runtimes/json-model.js';
export { PythonRuntime, OIP_SERVER_SCRIPT } from './runtimes/python-runtime.js';
export type { PythonRuntimeOptions } from './runtimes/python-runtime.js';
export { parseMlmodel } from './runtimes/mlflow-model.js';
export type { MlflowModelInfo } from './runtimes/mlflow-model.js';
