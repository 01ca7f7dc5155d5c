import { isUniqueViolation } from '../../db/index.js'
import type { Deps } from '../../shared/context.js'
import { isoDay } from '../../shared/dates.js'
import { badInput, conflict, forbidden, notFound, type FieldError } from '../../shared/errors.js'
import { groupRows, isUuid } from '../../shared/ids.js'
import { WORK_TEAM_ROLES } from '../../shared/labels.js'
import { connection, idPage, type Connection, type PageArgs } from '../../shared/pagination.js'
import { authorize, can, regionFilter } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { isRegionCode, levelOf } from '../../shared/region-code.js'
import { checkName } from '../../shared/text.js'
import { recordAudit } from '../audit/audit-service.js'
import * as regions from '../regions/regions-repository.js'
import { checkDay, checkPerson } from './helpers-service.js'
import * as repo from './people-repository.js'
import { auditOf, teamMemberView, teamView, type TeamMemberView, type TeamView } from './people-views.js'

export type WorkTeamRole = typeof WORK_TEAM_ROLES[number]
export interface TeamMemberInput { name: string, unit?: string | null, phone?: string | null, role: WorkTeamRole, joinedOn?: string | null }
export interface TeamInput { regionCode: string, sendingUnit: string, startedOn: string, members?: TeamMemberInput[] | null }
export interface TeamPatch { sendingUnit?: string | null, startedOn?: string | null }
export interface TeamFilter { regionCode?: string | null, serving?: boolean | null }

const MAX_MEMBERS = 30
const SERVING_KEY = 'work_teams_serving_village_key'
const FIRST_SECRETARY_KEY = 'work_team_members_first_secretary_key'

function checkSendingUnit (v: string | null | undefined, path: string, fields: FieldError[]): void {
  const unit = v?.trim() ?? ''
  if (unit === '') fields.push({ path, message: 'is required' })
  else if (unit.length > 100) fields.push({ path, message: 'must be at most 100 characters' })
  else checkName(v, path, fields)
}

/**
 * 驻村工作队: work teams sent to villages, one serving team per village, with their
 * members (at most one serving FIRST_SECRETARY, 第一书记). Read by every role that reads
 * records, written by OPERATOR and ADMIN in area (policy `people.*`).
 */
export class TeamsService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  private today (): string { return isoDay(this.deps.clock()) }

  async get (id: string): Promise<TeamView> {
    authorize(this.principal, 'people.read')
    const [row] = isUuid(id) ? await repo.findTeams(this.deps.db, this.principal, [id]) : []
    if (row === undefined) throw notFound('Work team')
    return teamView(row)
  }

  async byIds (ids: readonly string[]): Promise<Array<TeamView | null>> {
    authorize(this.principal, 'people.read')
    const rows = await repo.findTeams(this.deps.db, this.principal, ids.filter(isUuid))
    const byId = new Map(rows.map(r => [r.id, r]))
    return ids.map(id => { const r = byId.get(id); return r === undefined ? null : teamView(r) })
  }

  async list (filter: TeamFilter | null | undefined, args: PageArgs, paths: { region: string } & Partial<Record<keyof PageArgs, string>> = { region: 'filter.regionCode' }): Promise<Connection<TeamView>> {
    authorize(this.principal, 'people.read')
    const page = idPage(args, paths)
    const regionCode = regionFilter(this.principal, 'people.read', filter?.regionCode, paths.region)
    const q: repo.TeamQuery = { regionCode, serving: filter?.serving }
    const rows = await repo.listTeams(this.deps.db, this.principal, q, page, page.size + 1)
    return connection(rows.map(teamView), page, t => [t.id], async () => await repo.countTeams(this.deps.db, this.principal, q))
  }

  async membersOf (teamIds: readonly string[], includeLeft: boolean): Promise<TeamMemberView[][]> {
    authorize(this.principal, 'people.read')
    const rows = await repo.membersOfTeams(this.deps.db, this.principal, teamIds, includeLeft)
    return groupRows(teamIds, rows, r => r.teamId, r => teamMemberView(r, this.principal))
  }

  private checkMember (m: TeamMemberInput, path: string, startedOn: string, fields: FieldError[]): void {
    checkPerson(m, path, fields, true)
    if (!(WORK_TEAM_ROLES as readonly string[]).includes(m.role)) fields.push({ path: `${path}.role`, message: `must be one of ${WORK_TEAM_ROLES.join(', ')}` })
    if (m.joinedOn == null) return // the team's start
    const before = fields.length
    checkDay(m.joinedOn, `${path}.joinedOn`, this.today(), fields)
    if (fields.length === before && m.joinedOn < startedOn) fields.push({ path: `${path}.joinedOn`, message: `must not be before the team's start (${startedOn})` })
  }

  private memberRow (m: TeamMemberInput, team: repo.TeamRow, now: Date): repo.TeamMemberInsert {
    const blank = (v: string | null | undefined): string | null => (v == null || v.trim() === '' ? null : v.trim())
    return { teamId: team.id, regionCode: team.regionCode, name: m.name.trim(), unit: blank(m.unit), phone: blank(m.phone), role: m.role, joinedOn: m.joinedOn ?? team.startedOn, createdAt: now, updatedAt: now }
  }

  async create (input: TeamInput): Promise<TeamView> {
    authorize(this.principal, 'people.write')
    const fields: FieldError[] = []
    if (!isRegionCode(input.regionCode) || levelOf(input.regionCode) !== 'VILLAGE') {
      fields.push({ path: 'input.regionCode', message: 'must be a village (12-digit code)' })
    } else {
      if (!can(this.principal, 'people.write', input.regionCode)) throw forbidden('The village is outside your area')
      if (!(await regions.exists(this.deps.db, input.regionCode))) fields.push({ path: 'input.regionCode', message: 'is not a known village' })
    }
    checkSendingUnit(input.sendingUnit, 'input.sendingUnit', fields)
    checkDay(input.startedOn, 'input.startedOn', this.today(), fields)
    const members = input.members ?? []
    if (members.length > MAX_MEMBERS) fields.push({ path: 'input.members', message: `must list at most ${MAX_MEMBERS} members` })
    members.forEach((m, i) => { this.checkMember(m, `input.members.${i}`, input.startedOn, fields) })
    const secretaries = members.map((m, i) => [m, i] as const).filter(([m]) => m.role === 'FIRST_SECRETARY')
    if (secretaries.length > 1) fields.push({ path: `input.members.${secretaries[1]![1]}.role`, message: 'a team has at most one FIRST_SECRETARY' })
    if (fields.length > 0) throw badInput(fields)
    const now = this.deps.clock()
    try {
      return await this.deps.db.transaction(async (tx) => {
        const team = await repo.insertTeam(tx, { regionCode: input.regionCode, sendingUnit: input.sendingUnit.trim(), startedOn: input.startedOn, createdAt: now, updatedAt: now })
        const created = await repo.insertTeamMembers(tx, members.map(m => this.memberRow(m, team, now)))
        await recordAudit(tx, this.principal, now, { action: 'workTeam.create', entity: 'WorkTeam', entityId: team.id, regionCode: team.regionCode, after: { ...auditOf(team), members: created.map(auditOf) } })
        return teamView(team)
      })
    } catch (err) {
      if (isUniqueViolation(err, SERVING_KEY)) throw conflict('The village already has a serving work team; end it first')
      throw err
    }
  }

  private async findForWrite (id: string): Promise<repo.TeamRow> {
    authorize(this.principal, 'people.write')
    const [current] = isUuid(id) ? await repo.findTeams(this.deps.db, this.principal, [id]) : []
    if (current === undefined) throw notFound('Work team')
    authorize(this.principal, 'people.write', current.regionCode)
    return current
  }

  async update (id: string, expectedVersion: number, input: TeamPatch): Promise<TeamView> {
    const current = await this.findForWrite(id)
    const fields: FieldError[] = []
    const changes: Parameters<typeof repo.updateTeam>[4] = {}
    if (input.sendingUnit !== undefined) { checkSendingUnit(input.sendingUnit, 'input.sendingUnit', fields); changes.sendingUnit = input.sendingUnit?.trim() }
    if (input.startedOn !== undefined) {
      const before = fields.length
      checkDay(input.startedOn, 'input.startedOn', this.today(), fields)
      if (fields.length === before && current.endedOn !== null && input.startedOn! > current.endedOn) fields.push({ path: 'input.startedOn', message: `must not be after the team's end (${current.endedOn})` })
      changes.startedOn = input.startedOn!
    }
    if (fields.length > 0) throw badInput(fields)
    if (Object.keys(changes).length === 0) throw badInput([{ path: 'input', message: 'names no field to change' }])
    return await this.write(current, expectedVersion, changes, 'workTeam.update')
  }

  /** Ends the team on `endedOn` (default today); its members still serving leave that day. */
  async end (id: string, expectedVersion: number, endedOn: string | null | undefined): Promise<TeamView> {
    const current = await this.findForWrite(id)
    if (current.endedOn !== null) throw conflict('The work team has ended already')
    const day = endedOn ?? this.today()
    const fields: FieldError[] = []
    checkDay(day, 'endedOn', this.today(), fields)
    if (fields.length === 0 && day < current.startedOn) fields.push({ path: 'endedOn', message: `must not be before the team's start (${current.startedOn})` })
    if (fields.length > 0) throw badInput(fields)
    return await this.write(current, expectedVersion, { endedOn: day }, 'workTeam.end', async (tx, now) => {
      const left = await repo.leaveTeamAll(tx, this.principal, current.id, day, now)
      return { membersLeft: left.map(m => m.id) }
    })
  }

  private async write (current: repo.TeamRow, expectedVersion: number, changes: Parameters<typeof repo.updateTeam>[4], action: string, also?: (tx: Deps['db'], now: Date) => Promise<Record<string, unknown>>): Promise<TeamView> {
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const row = await repo.updateTeam(tx, this.principal, current.id, expectedVersion, changes, now)
      if (row === null) throw conflict(`The work team was changed since version ${expectedVersion}`)
      const extra = await also?.(tx, now) ?? {}
      await recordAudit(tx, this.principal, now, { action, entity: 'WorkTeam', entityId: row.id, regionCode: row.regionCode, before: auditOf(current), after: { ...auditOf(row), ...extra } })
      return teamView(row)
    })
  }

  async addMember (teamId: string, input: TeamMemberInput): Promise<TeamMemberView> {
    const team = await this.findForWrite(teamId)
    if (team.endedOn !== null) throw conflict('The work team has ended')
    const fields: FieldError[] = []
    this.checkMember(input, 'input', team.startedOn, fields)
    if (fields.length > 0) throw badInput(fields)
    const now = this.deps.clock()
    try {
      return await this.deps.db.transaction(async (tx) => {
        const locked = await repo.lockTeam(tx, this.principal, team.id)
        if (locked?.endedOn !== null) throw conflict('The work team has ended')
        const [row] = await repo.insertTeamMembers(tx, [this.memberRow(input, team, now)])
        await recordAudit(tx, this.principal, now, { action: 'workTeamMember.add', entity: 'WorkTeamMember', entityId: row!.id, regionCode: row!.regionCode, after: auditOf(row!) })
        return teamMemberView(row!, this.principal)
      })
    } catch (err) {
      if (isUniqueViolation(err, FIRST_SECRETARY_KEY)) throw badInput([{ path: 'input.role', message: 'the team has a serving FIRST_SECRETARY already' }])
      throw err
    }
  }

  /** The member (of `teamId`, when given) leaves the team on `leftOn` (default today); the record stays. */
  async removeMember (id: string, leftOn: string | null | undefined, teamId?: string): Promise<TeamMemberView> {
    authorize(this.principal, 'people.write')
    const current = isUuid(id) ? await repo.findTeamMember(this.deps.db, this.principal, id) : null
    if (current === null || (teamId !== undefined && current.teamId !== teamId)) throw notFound('Work team member')
    authorize(this.principal, 'people.write', current.regionCode)
    if (current.leftOn !== null) throw conflict('The member has left the team already')
    const day = leftOn ?? this.today()
    const fields: FieldError[] = []
    checkDay(day, 'leftOn', this.today(), fields)
    if (fields.length === 0 && day < current.joinedOn) fields.push({ path: 'leftOn', message: `must not be before joining (${current.joinedOn})` })
    if (fields.length > 0) throw badInput(fields)
    const now = this.deps.clock()
    return await this.deps.db.transaction(async (tx) => {
      const row = await repo.leaveTeam(tx, this.principal, id, day, now)
      if (row === null) throw conflict('The member has left the team meanwhile')
      await recordAudit(tx, this.principal, now, { action: 'workTeamMember.remove', entity: 'WorkTeamMember', entityId: id, regionCode: row.regionCode, before: auditOf(current), after: auditOf(row) })
      return teamMemberView(row, this.principal)
    })
  }
}
