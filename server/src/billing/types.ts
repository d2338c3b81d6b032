/**
 * Input and output of the billing engine (./engine.ts): one patient and one calendar month in, billable codes with
 * the reason for each code billed and for each code not billed out.
 */
import type { CareModel, CareRole } from './config.ts';

/** Care-management minutes one person spent on one activity (a logged time entry, ../billing/time-entry.ts). */
export interface MinuteEntry {
  /** Reference of the source (e.g. `Task/123`), echoed in reasons. */
  readonly source?: string;
  /** Local date of service, `YYYY-MM-DD`: decides the calendar month. */
  readonly date: string;
  readonly role: CareRole;
  /** e.g. outreach, assessment, care-planning, caseload-consultation, brief-intervention, coordination, psychotherapy. */
  readonly activity: string;
  readonly minutes: number;
  /** Minutes used for another separately billed service (E/M, psychotherapy, CCM, TCM): never counted (§2.2). */
  readonly separatelyBilled?: boolean;
  /** Patient was inpatient or in observation status (§2.2): not counted. */
  readonly patientInpatient?: boolean;
}

/** An interactive-complexity factor (clinical.md §2.6), or `translation-only`, which never qualifies. */
export type ComplexityFactor = string;

/** An individual psychotherapy session (face-to-face minutes). */
export interface PsychotherapySession {
  readonly source?: string;
  readonly date: string;
  readonly minutes: number;
  /** An E/M is billed for the same encounter: the add-on codes (90833/90836/90838) apply. */
  readonly withEM: boolean;
  readonly complexityFactors?: readonly ComplexityFactor[];
  /** Other codes billed for the same session (e.g. 90846, 90839): decide whether +90785 may be added. */
  readonly otherCodes?: readonly string[];
}

/** A group psychotherapy session (90853, per patient). */
export interface GroupSession {
  readonly source?: string;
  readonly date: string;
  readonly participants?: number;
  readonly complexityFactors?: readonly ComplexityFactor[];
  readonly otherCodes?: readonly string[];
}

/** A psychiatric diagnostic evaluation billed elsewhere; only its +90785 add-on is decided here. */
export interface EvaluationVisit {
  readonly source?: string;
  readonly date: string;
  readonly code: '90791' | '90792';
  readonly complexityFactors?: readonly ComplexityFactor[];
  readonly otherCodes?: readonly string[];
}

/** A code already billed for this patient (any practitioner), with its service month. */
export interface PriorBilledCode {
  readonly month: string;
  readonly code: string;
}

/** One patient, one calendar month. */
export interface PatientMonth {
  /** `YYYY-MM`. Evaluate after the month closes so all minutes are counted (§2.6). */
  readonly month: string;
  /** Care-management model of the month; absent: no care-management code is considered. */
  readonly model?: CareModel;
  /** Payer profile name (config `payers`); absent: `default`. */
  readonly payer?: string;
  /** Only non-FQHC/RHC settings are covered by the rules table (§2.6); FQHC/RHC months get a review item. */
  readonly setting?: 'office' | 'fqhc' | 'rhc';
  readonly minutes: readonly MinuteEntry[];
  /**
   * Episode facts: `start` is the referral month (`YYYY-MM`) when known; `priorServiceMonths` are the months before
   * this one with any care-management service for this model, billed or not (they decide episode restarts, §2.3).
   */
  readonly episode: { readonly start?: string; readonly priorServiceMonths: readonly string[] };
  /** Codes already billed for this patient: this month (by anyone) and earlier months. */
  readonly priorBilling: readonly PriorBilledCode[];
  readonly consentOnFile: boolean;
  /** The billing practitioner's most recent qualifying visit (E/M, AWV, IPPE, TCM, …), if any. */
  readonly initiatingVisit?: { readonly date: string; readonly type: string };
  readonly inRegistry: boolean;
  /** Psychiatric consultant review this month, or documented weekly caseload consultation. */
  readonly psychiatricConsultantReview: boolean;
  readonly validatedScaleThisMonth: boolean;
  readonly psychotherapy?: readonly PsychotherapySession[];
  readonly groupSessions?: readonly GroupSession[];
  readonly evaluations?: readonly EvaluationVisit[];
}

/** A billable code. `rule` is the row of clinical.md §2.6 that produced it (C3, B1, P2, …). */
export interface BilledLine {
  readonly code: string;
  readonly units: number;
  readonly rule: string;
  readonly reason: string;
  /** Service date: the session date, or the month's last day for monthly codes. */
  readonly serviceDate: string;
  readonly source?: string;
}

/** A code considered and not billed, and why. */
export interface NotBilledCode {
  readonly code: string;
  readonly rule: string;
  readonly reason: string;
  readonly source?: string;
}

/** Minutes left out of every count, and why. */
export interface ExcludedMinutes {
  readonly source?: string;
  readonly minutes: number;
  readonly reason: string;
}

/** The engine's answer for one patient-month. */
export interface BillingDecision {
  readonly month: string;
  readonly payer: string;
  /** Episode of the care-management model (absent without a model). */
  readonly episode?: { readonly startMonth: string; readonly initialMonth: boolean; readonly reason: string };
  /** Countable minutes per family: CoCM (99492–99494, G2214), general BHI (99484), G0323. */
  readonly countedMinutes: { readonly cocm: number; readonly generalBhi: number; readonly g0323: number };
  readonly excludedMinutes: readonly ExcludedMinutes[];
  readonly billed: readonly BilledLine[];
  readonly notBilled: readonly NotBilledCode[];
  /** Things a person must fix or review before anything of this month is billed (missing consent, …). */
  readonly reviewItems: readonly string[];
}
