/**
 * The production `launch`: starts the pipeline with PipelineService and resolves with the
 * pipeline run's id as soon as the run is recorded, leaving it to finish in the background
 * (a nightly run must not hold up the next scheduler tick).
 */
import type { Logger } from '../../core/index.js';
import type { PipelineService } from '../pipeline-runner.js';
import type { Launch } from './scheduler.js';

/**
 * A `Launch` over `service`: the request's run options, plus the tags saying why it started.
 *
 * @example
 * const scheduler = new Scheduler({ store, clock, launch: pipelineLauncher(ctx.pipelines, logger) });
 */
export function pipelineLauncher(service: PipelineService, logger?: Logger): Launch {
  return (request) =>
    new Promise<string>((resolve, reject) => {
      let started = false;
      service
        .run(request.pipeline, {
          ...request.runOptions,
          // A dataset-triggered run reads the versions that fired it, even if newer ones
          // land between the fire and the run, or while it runs.
          ...(request.reason.trigger === 'dataset'
            ? {
                pinnedDatasets: {
                  ...request.runOptions.pinnedDatasets,
                  ...request.reason.datasets,
                },
              }
            : {}),
          tags: request.tags,
          onStarted: ({ id }) => {
            started = true;
            resolve(id);
          },
        })
        .then(
          (result) =>
            logger?.info(
              { pipeline: request.pipeline.name, pipelineRunId: result.id },
              `pipeline '${request.pipeline.name}' (${request.reason.trigger}) ${result.status}`,
            ),
          (error: unknown) => {
            // Before the run was recorded: the launch failed (bad params, store down).
            if (!started) reject(error instanceof Error ? error : new Error(String(error)));
            else
              logger?.error(
                { err: error, pipeline: request.pipeline.name },
                `pipeline '${request.pipeline.name}' failed`,
              );
          },
        );
    });
}
