/**
 * API tokens: created once (the secret is shown to the caller and never stored),
 * looked up by the sha256 of the secret, revoked without deleting history.
 */
import { randomBytes } from 'node:crypto';
import {
  MobiusError,
  checkName,
  constantTimeEqual,
  newId,
  sha256Hex,
  type Clock,
} from '../core/index.js';
import { TOKEN_ROLES, constraintViolation, type Store, type TokenRole } from '../store/index.js';

/** Who a request acts as. */
export interface Principal {
  /** `admin` for the configured MOBIUS_TOKEN, else the stored token's name. */
  name: string;
  role: TokenRole;
  tokenId: string | undefined;
}

/** A stored token as listed (never with its secret). */
export interface TokenInfo {
  id: string;
  name: string;
  role: TokenRole;
  createdAt: number;
  revokedAt: number | null;
}

/** Secrets look like `mbx_` + 43 base64url characters (256 random bits). */
const SECRET_PREFIX = 'mbx_';

/** Creates, lists, revokes and checks API tokens, recording each change in the audit log. */
export class TokenService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Creates a token; the returned `secret` is the only copy there will ever be. */
  async create(
    input: { name: string; role: TokenRole },
    actor: string,
  ): Promise<TokenInfo & { secret: string }> {
    const name = checkName('token', input.name);
    if (!(TOKEN_ROLES as readonly string[]).includes(input.role)) {
      throw new MobiusError(
        'INVALID_ARGUMENT',
        `role '${String(input.role)}' is not one of ${TOKEN_ROLES.join(', ')}`,
      );
    }
    const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
    const row = {
      id: newId(),
      name,
      hash: sha256Hex(secret),
      role: input.role,
      created_at: this.clock.now(),
      revoked_at: null,
    };
    try {
      await this.store.write(async (trx) => {
        await trx.insertInto('token').values(row).execute();
        await trx
          .insertInto('audit')
          .values({
            at: row.created_at,
            actor,
            action: 'token.create',
            object_kind: 'token',
            object_id: row.id,
            details: JSON.stringify({ name, role: row.role }),
          })
          .execute();
      });
    } catch (error) {
      if (constraintViolation(error) === 'unique') {
        throw new MobiusError(
          'ALREADY_EXISTS',
          `a token named '${name}' already exists; pick another name or revoke it first`,
        );
      }
      throw error;
    }
    return { id: row.id, name, role: row.role, createdAt: row.created_at, revokedAt: null, secret };
  }

  /** All tokens, newest first. */
  async list(): Promise<TokenInfo[]> {
    const rows = await this.store.db
      .selectFrom('token')
      .select(['id', 'name', 'role', 'created_at', 'revoked_at'])
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }));
  }

  /** Revokes a token by id or name; revoking twice is a no-op. */
  async revoke(idOrName: string, actor: string): Promise<TokenInfo> {
    return this.store.write(async (trx) => {
      const row = await trx
        .selectFrom('token')
        .selectAll()
        .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
        .executeTakeFirst();
      if (row === undefined)
        throw new MobiusError('NOT_FOUND', `no token with id or name '${idOrName}'`);
      const revokedAt = row.revoked_at ?? this.clock.now();
      if (row.revoked_at === null) {
        await trx
          .updateTable('token')
          .set({ revoked_at: revokedAt })
          .where('id', '=', row.id)
          .execute();
        await trx
          .insertInto('audit')
          .values({
            at: revokedAt,
            actor,
            action: 'token.revoke',
            object_kind: 'token',
            object_id: row.id,
            details: null,
          })
          .execute();
      }
      return { id: row.id, name: row.name, role: row.role, createdAt: row.created_at, revokedAt };
    });
  }

  /** The principal a presented secret stands for, or undefined when it is unknown or revoked. */
  async authenticate(secret: string): Promise<Principal | undefined> {
    if (!secret.startsWith(SECRET_PREFIX)) return undefined;
    const hash = sha256Hex(secret);
    const row = await this.store.db
      .selectFrom('token')
      .select(['id', 'name', 'role', 'hash', 'revoked_at'])
      .where('hash', '=', hash)
      .executeTakeFirst();
    // The lookup is by hash, so timing reveals nothing about the secret; compare anyway.
    if (row === undefined || row.revoked_at !== null || !constantTimeEqual(row.hash, hash))
      return undefined;
    return { name: row.name, role: row.role, tokenId: row.id };
  }
}
