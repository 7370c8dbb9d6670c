/**
 * Plans are data: this table says which features each plan has, and code asks
 * `planHasFeature` instead of testing plan names.
 */
export const PLANS = {
  mighty: { label: 'Mighty', features: ['agent_password_management'] },
  fantastic: { label: 'Fantastic', features: ['agent_password_management'] },
  enterprise: { label: 'Enterprise', features: ['agent_password_management'] },
  enterprise_plus: { label: 'Enterprise Plus', features: ['agent_password_management'] },
} as const satisfies Record<string, { label: string; features: readonly Feature[] }>;

/** agent_password_management: "Reset/change password for other agents" (Manage › Agents). */
export type Feature = 'agent_password_management';
export type Plan = keyof typeof PLANS;
export const PLAN_NAMES = Object.keys(PLANS) as Plan[];
export const DEFAULT_PLAN: Plan = 'enterprise';

export function isPlan(name: string): name is Plan {
  return Object.hasOwn(PLANS, name);
}

/** Does the plan include the feature? Unknown plans include nothing. */
export function planHasFeature(plan: string, feature: Feature): boolean {
  return isPlan(plan) && (PLANS[plan].features as readonly Feature[]).includes(feature);
}
