/**
 * Vitest globalSetup for the HTTP suite: one shared production server for
 * every test file (the durability test starts its own, since it kills it).
 */
import type { TestProject } from 'vitest/node';
import { assertBuilt, KubegateServer, prepareKubegate, type KubegateFiles } from './kubegate';

declare module 'vitest' {
  export interface ProvidedContext {
    kubegate: KubegateFiles;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Throws NoBuildError ("Run `npm run build` first") before anything starts: the suite never builds.
  assertBuilt();
  const files = await prepareKubegate({ idTokenLifetime: 60, reuseGrace: 2 });
  const server = new KubegateServer(files);
  await server.start();
  project.provide('kubegate', files);
  return async () => {
    await server.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
  };
}
