import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { InvalidInputError, parseWithSchema } from '../core/index.js';

/** One rule: an address (`10.0.0.7`, `2001:db8::1`) or a network in CIDR form (`10.0.0.0/8`, `2001:db8::/32`). */
const RuleSchema = z.string().superRefine((rule, context) => {
  if (parseRule(rule) === null) context.addIssue({ code: 'custom', message: `'${rule.slice(0, 60)}' is neither an IPv4 or IPv6 address nor a network in CIDR form such as 10.0.0.0/8` });
});

/** A job's firewall: who may open a connection to the participants' listener. */
export const FirewallRulesSchema = z
  .object({
    /** When not empty, only these may connect. */
    allow: z.array(RuleSchema).max(10_000).default([]),
    /** Never these, even when allowed. */
    deny: z.array(RuleSchema).max(10_000).default([]),
  })
  .strict();

export type FirewallRules = z.infer<typeof FirewallRulesSchema>;

/** Rules that are not addresses or networks, or a rules file that cannot be read. */
export class FirewallRulesError extends InvalidInputError {}

/** Whether an address may connect, and the rule that decided. */
export interface FirewallDecision {
  allowed: boolean;
  /** `deny 10.0.0.0/8`, `not on the allow-list`, or `allowed`. */
  reason: string;
}

interface ParsedRule {
  text: string;
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

function parseRule(rule: string): ParsedRule | null {
  const [address, prefixText, extra] = rule.trim().split('/');
  const version = isIP(address ?? '');
  if (extra !== undefined || version === 0 || address === undefined) return null;
  const bits = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) return null;
  return { text: rule.trim(), family: version === 4 ? 'ipv4' : 'ipv6', address, prefix };
}

/** One list of rules, matched with node's BlockList, which also matches IPv4-mapped IPv6 peers against IPv4 rules. */
class RuleList {
  private readonly blocks: { rule: ParsedRule; list: BlockList }[];

  constructor(rules: readonly string[]) {
    this.blocks = rules.map((text) => {
      const rule = parseRule(text) as ParsedRule;
      const list = new BlockList();
      list.addSubnet(rule.address, rule.prefix, rule.family);
      return { rule, list };
    });
  }

  get size(): number {
    return this.blocks.length;
  }

  /** The first rule the address falls under, or undefined. */
  match(address: string): string | undefined {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    return this.blocks.find(({ list }) => list.check(address, family))?.rule.text;
  }
}

/**
 * The participants' listener's firewall: deny-list first, then the allow-list when it has rules.
 * Checked on the TCP connection before the TLS handshake, so a denied peer costs no handshake; its
 * rules are replaced whole, without a restart (SIGHUP re-reads the file, or the operator API).
 */
export class Firewall {
  private current: FirewallRules;
  private allow: RuleList;
  private deny: RuleList;

  constructor(rules: unknown = {}, private readonly file?: string) {
    this.current = parseRules(rules, file);
    this.allow = new RuleList(this.current.allow);
    this.deny = new RuleList(this.current.deny);
  }

  /** Reads the rules from their file; the file named at start when none is given. */
  static fromFile(file: string): Firewall {
    return new Firewall(readRulesFile(file), file);
  }

  /** The rules in force. */
  get rules(): FirewallRules {
    return { allow: [...this.current.allow], deny: [...this.current.deny] };
  }

  /** Decides whether a peer address may connect. */
  check(address: string | undefined): FirewallDecision {
    if (address === undefined || isIP(address) === 0) {
      // A connection whose address the kernel would not give is let through only when no rule could have applied.
      const open = this.allow.size === 0 && this.deny.size === 0;
      return { allowed: open, reason: open ? 'allowed' : 'the peer has no address to check' };
    }
    const denied = this.deny.match(address);
    if (denied !== undefined) return { allowed: false, reason: `deny ${denied}` };
    if (this.allow.size > 0 && this.allow.match(address) === undefined) return { allowed: false, reason: 'not on the allow-list' };
    return { allowed: true, reason: 'allowed' };
  }

  /** Replaces the rules whole; invalid rules throw and leave the ones in force unchanged. */
  replace(rules: unknown): FirewallRules {
    const parsed = parseRules(rules);
    const allow = new RuleList(parsed.allow);
    const deny = new RuleList(parsed.deny);
    this.current = parsed;
    this.allow = allow;
    this.deny = deny;
    return this.rules;
  }

  /** Re-reads the rules file given at start (what SIGHUP does); without one there is nothing to reload. */
  reload(): FirewallRules {
    if (this.file === undefined) throw new FirewallRulesError('FIREWALL_NO_FILE', 'this coordinator was started without --firewall FILE; there is no file to reload (use the operator API to set rules)');
    const parsed = parseRules(readRulesFile(this.file), this.file);
    return this.replace(parsed);
  }
}

function readRulesFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FirewallRulesError('FIREWALL_FILE_UNREADABLE', `cannot read the firewall rules file ${file}: ${(error as Error).message}`, { file });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new FirewallRulesError('FIREWALL_RULES_INVALID', `the firewall rules file ${file} is not JSON (${(error as Error).message}); expected {"allow": [...], "deny": [...]}`, { file });
  }
}

function parseRules(rules: unknown, source?: string): FirewallRules {
  return parseWithSchema(rules, FirewallRulesSchema, 'firewall rules', { code: 'FIREWALL_RULES_INVALID', ...(source ? { source } : {}) });
}
