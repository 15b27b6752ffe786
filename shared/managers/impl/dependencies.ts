import { dependencyService } from '../../dependencies/clients.ts';
import { type ManagerImplementation, stateStoreCheck } from '../contract-handler.ts';

/** Dependency manifests: projects, packages and conflicts across projects; `report`. */
export const dependencies: ManagerImplementation<'dependencies'> = {
  async checks(ctx) {
    return [await stateStoreCheck(ctx.app)];
  },

  async gauges(ctx) {
    const report = await dependencyService(ctx.app).report(undefined, { similar: false });
    return [
      { name: 'dependencies_projects', help: 'Indexed projects', value: report.projects },
      {
        name: 'dependencies_packages',
        help: 'Distinct packages (ecosystem and name) the indexed projects declare',
        value: report.packages,
      },
      {
        name: 'dependencies_conflicts',
        help: 'Packages declared at incompatible versions, within or across projects',
        value: report.conflicts.length,
      },
    ];
  },

  actions: {
    async report(input: { project?: string }, ctx) {
      return dependencyService(ctx.app).report(input.project);
    },
  },
};
