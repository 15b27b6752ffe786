import { NotFoundError } from '../errors.ts';
import type { DeliveredEnvelope } from '../events/log.ts';
import type { EventPublisher } from '../events/publisher.ts';
import { parseEvent } from '../events/publisher.ts';
import type { SubscriptionStore } from '../notifications/subscriptions.ts';
import type { StateStore } from '../ports.ts';
import { AuditLog, entryOf, isAudited } from './audit.ts';
import { countDenials } from './bursts.ts';
import type { AuditPage, AuditQuery, RotateInput, SecurityConfig } from './model.ts';
import type { UserDirectory, UserPage, UsersQuery } from './users.ts';

/**
 * The security manager's work: the audit log (written from the events its queue receives, read by
 * the API), bursts of refusals, the rotation of webhook signing secrets, and the identity
 * provider's users with their roles.
 */

const DAY_MS = 86_400_000;

export interface SecurityDeps {
  state: () => StateStore;
  subscriptions: () => Promise<SubscriptionStore>;
  publisher: () => EventPublisher;
  config: () => Promise<SecurityConfig>;
  users: () => UserDirectory;
  now?: () => Date;
}

export interface RotatedSecret {
  subscriptionId: string;
  /** The new secret: answered to the administrator who asked (shown once), never to a schedule. */
  secret?: string;
  previousValidUntil: string;
}

export class SecurityService {
  readonly #deps: SecurityDeps;
  readonly #log: AuditLog;

  constructor(deps: SecurityDeps) {
    this.#deps = deps;
    this.#log = new AuditLog(deps.state, () => this.#now());
  }

  /** One event of the manager's queue: an audited action's entry, or a refusal counted. */
  async consume(envelope: DeliveredEnvelope): Promise<'recorded' | 'counted' | 'burst' | 'ignored'> {
    const event = parseEvent(envelope);
    const config = await this.#deps.config();
    if (isAudited(event.type)) {
      const entry = entryOf({ id: envelope.id, time: envelope.time, type: event.type, detail: event.detail });
      await this.#log.record(entry, config.retentionDays);
      return 'recorded';
    }
    if (event.type !== 'ApiAccessDenied') return 'ignored';
    const policy = { threshold: config.burstThreshold, windowMinutes: config.burstWindowMinutes };
    const burst = await countDenials(this.#deps.state, envelope.id, event.detail, policy, async (entry) => {
      await this.#log.record(entry, config.retentionDays);
      await this.#deps.publisher().publish('SecurityAlert', {
        kind: 'access-denied-burst',
        ip: event.detail.ip,
        ...(event.detail.sub ? { sub: event.detail.sub } : {}),
        count: entry.detail.count as number,
        windowMinutes: policy.windowMinutes,
        auditId: entry.id,
        at: entry.time,
      });
    });
    return burst ? 'burst' : 'counted';
  }

  async audit(query: AuditQuery): Promise<AuditPage> {
    return this.#log.list(query, (await this.#deps.config()).retentionDays);
  }

  /** One page of the identity provider's users, with the roles their groups grant. */
  async users(query: UsersQuery): Promise<UserPage> {
    return this.#deps.users().list(query);
  }

  /**
   * Gives webhook subscriptions fresh signing secrets (one, or all; with `due`, those last rotated
   * `rotateEveryDays` ago or more), each previous one valid `rotationGraceHours` more, and
   * publishes WebhookSecretsRotated. The new secrets are answered only to an action's caller.
   */
  async rotate(input: RotateInput, trigger: 'action' | 'schedule'): Promise<{ rotated: RotatedSecret[] }> {
    const config = await this.#deps.config();
    const now = this.#now();
    const store = await this.#deps.subscriptions();
    if (input.due && config.rotateEveryDays === 0) return { rotated: [] };
    // An id asked for by name is rotated as is (rotateSecret says why one cannot be).
    const webhooks = await store.webhooks();
    const targets =
      input.subscriptionId !== undefined
        ? [{ id: input.subscriptionId, createdAt: now.toISOString() }]
        : webhooks;
    const rotated: RotatedSecret[] = [];
    for (const { id, createdAt } of targets) {
      if (input.due) {
        const { rotatedAt } = await store.secretOf(id);
        if (now.getTime() - Date.parse(rotatedAt ?? createdAt) < config.rotateEveryDays * DAY_MS) continue;
      }
      const stored = await store.rotateSecret(id, config.rotationGraceHours * 3_600_000, now);
      rotated.push({
        subscriptionId: id,
        ...(trigger === 'action' ? { secret: stored.current } : {}),
        previousValidUntil: stored.previousValidUntil as string,
      });
    }
    const first = rotated[0];
    if (first) {
      await this.#deps.publisher().publish('WebhookSecretsRotated', {
        trigger,
        subscriptionIds: rotated.map((r) => r.subscriptionId),
        previousValidUntil: first.previousValidUntil,
      });
    }
    return { rotated };
  }

  /** A webhook's current secret (after a scheduled rotation, for its receiver), and its grace. */
  async webhookSecret(subscriptionId: string) {
    const store = await this.#deps.subscriptions();
    if (!(await store.webhooks()).some((s) => s.id === subscriptionId)) {
      throw new NotFoundError(`no webhook subscription "${subscriptionId}"`, [
        { field: 'subscriptionId', reason: 'no webhook subscription has this id' },
      ]);
    }
    const { current, rotatedAt, previousValidUntil } = await store.secretOf(subscriptionId);
    const graceOver =
      previousValidUntil === undefined || Date.parse(previousValidUntil) <= this.#now().getTime();
    return {
      subscriptionId,
      secret: current,
      ...(rotatedAt ? { rotatedAt } : {}),
      ...(graceOver ? {} : { previousValidUntil }),
    };
  }

  #now(): Date {
    return this.#deps.now?.() ?? new Date();
  }
}
