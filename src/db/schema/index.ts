export * from './regions.js'
export * from './audit.js'
export * from './registry.js'
export * from './exits.js'
