import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { LEGACY_NAMES } from '../events/catalogue.ts';
import { EVENT_SOURCE } from '../migrations/settings.ts';
import type { StateStore } from '../ports.ts';
import { ALARM_DETAIL_TYPE, ALARM_SOURCE } from './alarms.ts';
import type { Subscription, SubscriptionInput } from './model.ts';
import type { SecretStore } from './ports.ts';
import { decodeSecret, encodeSecret, rotateSecret, type StoredSecret } from './secret-value.ts';
import { newSecret } from './signing.ts';
import { checkTarget, type TargetPolicy } from './ssrf.ts';

/**
 * Subscriptions in the state store (one partition), each webhook's signing secret in the secret
 * store under `<prefix><subscription id>` (Secrets Manager in AWS, the local one locally): never in
 * the state store, an answer or a log, except once in the answer that created it.
 */

const PARTITION = 'NOTIFICATIONS#SUBSCRIPTIONS';
const META = 'NOTIFICATIONS#META';

export const DEFAULT_SUBSCRIPTION_ID = 'default';

/**
 * The default subscription: failed migrations, `manager.error` and `system.critical` (the
 * legacy names of ManagerFailed and SystemCriticalDetected here), the notices someone asked to send
 * the operators (OperatorNotice: a workflow's notify step), and the alarm topic's state changes
 * (`alarms.ts`). One pattern: neither source ever sends the other's detail-types. Stored when the
 * platform first reads its subscriptions: a platform seeded earlier keeps the pattern it was given.
 */
export const DEFAULT_PATTERN = {
  source: [EVENT_SOURCE, ALARM_SOURCE],
  'detail-type': [
    'MigrationFailed',
    LEGACY_NAMES['manager.error'],
    LEGACY_NAMES['system.critical'],
    'OperatorNotice',
    ALARM_DETAIL_TYPE,
  ],
};

/** What a create or replace answers: the subscription, and a secret the platform made (shown once). */
export interface Saved {
  subscription: Subscription;
  secret?: string;
}

export class SubscriptionStore {
  readonly #state: () => StateStore;
  readonly #secrets: () => SecretStore;
  readonly #secretPrefix: string | undefined;
  readonly #defaultEmailTo: () => Promise<string>;
  readonly #policy: TargetPolicy;

  constructor(opts: {
    state: () => StateStore;
    secrets: () => SecretStore;
    /** Absent in functions granted no webhook secrets. */
    secretPrefix: string | undefined;
    defaultEmailTo: () => Promise<string>;
    /** Webhook targets are checked when saved too, for a clear 400 rather than failed deliveries. */
    policy: TargetPolicy;
  }) {
    this.#policy = opts.policy;
    this.#state = opts.state;
    this.#secrets = opts.secrets;
    this.#secretPrefix = opts.secretPrefix;
    this.#defaultEmailTo = opts.defaultEmailTo;
  }

  /** Every subscription; the first read ever stores the default one (deleting it then sticks). */
  async list(): Promise<Subscription[]> {
    await this.#seed();
    const items = await this.#state().list<Subscription>(PARTITION);
    return items.map((i) => i.value);
  }

  /** The webhook subscriptions, read only (no default stored: it is an email one). */
  async webhooks(): Promise<Subscription[]> {
    const items = await this.#state().list<Subscription>(PARTITION);
    return items.map((i) => i.value).filter((s) => s.channel.type === 'webhook');
  }

  async get(id: string): Promise<Subscription> {
    await this.#seed();
    const item = await this.#state().get<Subscription>(PARTITION, id);
    if (!item) throw notFound(id);
    return item.value;
  }

  async create(input: SubscriptionInput): Promise<Saved> {
    await this.#checkTarget(input);
    const now = new Date().toISOString();
    const subscription: Subscription = {
      id: `sub-${randomUUID()}`,
      ...fields(input),
      createdAt: now,
      updatedAt: now,
    };
    // The secret first: a subscription is never stored without the secret its deliveries sign with.
    const secret = await this.#storeSecret(subscription, input.secret);
    await this.#state().put(PARTITION, subscription.id, subscription, { expectedVersion: 0 });
    return { subscription, ...(secret && !input.secret ? { secret } : {}) };
  }

  /** Replaces a subscription; a webhook keeps its secret unless one is given (or it had none). */
  async replace(id: string, input: SubscriptionInput): Promise<Saved> {
    const item = await this.#state().get<Subscription>(PARTITION, id);
    if (!item) throw notFound(id);
    await this.#checkTarget(input);
    const before = item.value;
    const subscription: Subscription = { ...before, ...fields(input), updatedAt: new Date().toISOString() };
    let made: string | undefined;
    if (subscription.channel.type === 'webhook' && (input.secret || before.channel.type !== 'webhook')) {
      made = await this.#storeSecret(subscription, input.secret);
    }
    await this.#state().put(PARTITION, id, subscription, { expectedVersion: item.version });
    if (subscription.channel.type !== 'webhook' && before.channel.type === 'webhook') {
      await this.#secrets().delete(this.#secretName(id));
    }
    return { subscription, ...(made && !input.secret ? { secret: made } : {}) };
  }

  async delete(id: string): Promise<void> {
    const item = await this.#state().get<Subscription>(PARTITION, id);
    if (!item) throw notFound(id);
    await this.#state().delete(PARTITION, id);
    if (item.value.channel.type === 'webhook') await this.#secrets().delete(this.#secretName(id));
  }

  /** A webhook subscription's signing secret (and its previous one after a rotation). */
  async secretOf(id: string): Promise<StoredSecret> {
    return decodeSecret(await this.#secrets().get(this.#secretName(id)));
  }

  /**
   * Gives a webhook subscription a fresh secret; the one it replaces stays valid `graceMs` more
   * (`secret-value.ts`). Answers the stored result, new secret included (to be shown once).
   */
  async rotateSecret(id: string, graceMs: number, now: Date = new Date()): Promise<StoredSecret> {
    const item = await this.#state().get<Subscription>(PARTITION, id);
    if (!item) throw notFound(id);
    if (item.value.channel.type !== 'webhook') {
      throw ValidationError.field(
        'subscriptionId',
        `subscription "${id}" is not a webhook: it has no secret`,
      );
    }
    const rotated = rotateSecret(await this.secretOf(id), newSecret(), now, graceMs);
    await this.#secrets().replace(this.#secretName(id), encodeSecret(rotated));
    return rotated;
  }

  async #checkTarget(input: SubscriptionInput): Promise<void> {
    if (input.channel.type === 'webhook') await checkTarget(input.channel.url, this.#policy, 'channel.url');
  }

  #secretName(id: string): string {
    if (!this.#secretPrefix) throw new Error('Invalid configuration: WEBHOOK_SECRETS_PREFIX is not set');
    return `${this.#secretPrefix}${id}`;
  }

  async #storeSecret(subscription: Subscription, given: string | undefined): Promise<string | undefined> {
    if (subscription.channel.type !== 'webhook') return undefined;
    const secret = given ?? newSecret();
    await this.#secrets().put(
      this.#secretName(subscription.id),
      encodeSecret({ v: 1, current: secret, rotatedAt: new Date().toISOString() }),
    );
    return secret;
  }

  async #seed(): Promise<void> {
    const state = this.#state();
    if (await state.get(META, 'seeded')) return;
    const now = new Date().toISOString();
    const subscription: Subscription = {
      id: DEFAULT_SUBSCRIPTION_ID,
      name: 'Failures and critical conditions',
      pattern: DEFAULT_PATTERN,
      channel: { type: 'email', to: [await this.#defaultEmailTo()] },
      enabled: true,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await state.put(PARTITION, subscription.id, subscription, { expectedVersion: 0 });
    } catch (err) {
      // Another function seeded it first.
      if (!(err instanceof ConflictError)) throw err;
    }
    await state.put(META, 'seeded', { at: now });
  }
}

const fields = (input: SubscriptionInput) => ({
  name: input.name,
  pattern: input.pattern,
  channel: input.channel,
  enabled: input.enabled,
});

const notFound = (id: string) =>
  new NotFoundError(`no subscription "${id}"`, [{ field: 'id', reason: 'no subscription has this id' }]);
