export * from './regions.js'
export * from './audit.js'
