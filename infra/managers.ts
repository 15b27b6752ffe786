import type { ManagerDeclaration } from '../shared/managers/declaration.ts';
import { type ManagerId, ManagerIdSchema } from '../shared/managers/specs.ts';
import { managedResourcesOf } from './function-environment.ts';
import { type Manifest, manifest as platformManifest } from './manifest.ts';

/** Every manager of a manifest with what it owns resolved (routes, queues, rules, schedules). */
export function managerDeclarations(manifest: Manifest = platformManifest): ManagerDeclaration[] {
  const resources = managedResourcesOf(manifest);
  return Object.entries(manifest.managers ?? {}).map(([rawId, decl]) => {
    const id: ManagerId = ManagerIdSchema.parse(rawId);
    const owned = resources[rawId]!;
    const runs = (fn: string | undefined) => fn !== undefined && owned.functions.includes(fn);
    return {
      id,
      name: decl.name,
      description: decl.description,
      stoppable: decl.stoppable,
      function: decl.function,
      functions: owned.functions,
      routes: manifest.routes.filter((r) => runs(r.function)).map((r) => `${r.method} ${r.path}`),
      queues: owned.queues,
      rules: Object.entries(manifest.rules)
        .filter(([, r]) => runs(r.function) || (r.queue !== undefined && owned.queues.includes(r.queue)))
        .map(([name]) => name),
      schedules: Object.entries(manifest.schedules ?? {})
        .filter(([, s]) => runs(s.function))
        .map(([name]) => name),
      emits: decl.emits,
      consumes: decl.consumes,
    };
  });
}

/** One manager's declaration. */
export function managerDeclaration(id: ManagerId, manifest: Manifest = platformManifest): ManagerDeclaration {
  const found = managerDeclarations(manifest).find((m) => m.id === id);
  if (!found) throw new Error(`manager ${id} is not declared in the manifest`);
  return found;
}
