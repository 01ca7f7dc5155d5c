import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The project root: the nearest directory above this module holding package.json.
 * Works both from src/ (tsx) and from the compiled dist/src/.
 */
function findRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url))
    dir = parent
  }
  return dir
}

export const projectRoot = findRoot()
export const paths = {
  migrations: join(projectRoot, 'migrations'),
  schema: join(projectRoot, 'graphql', 'schema.graphql'),
  openapi: join(projectRoot, 'openapi.yaml'),
  seed: join(projectRoot, 'src', 'db', 'seed')
}
