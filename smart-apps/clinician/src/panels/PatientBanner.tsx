/** The patient banner (shown when the EHR asks for it: `need_patient_banner`), with any active safety flag. */
import type { Resource } from '../../../shared/src/fhir-client.ts';
import { ageOf, conceptText, humanName } from '../data.ts';

export function PatientBanner({ patient, flags }: { patient: Resource; flags: Resource[] }) {
  const age = ageOf(patient.birthDate as string | undefined);
  const mrn = (patient.identifier as { value?: string; type?: { text?: string } }[] | undefined)?.[0]?.value;
  return (
    <section className="banner" aria-label="Patient">
      <p className="banner-name">{humanName(patient) ?? 'Unnamed patient'}</p>
      <p className="banner-facts">
        {patient.birthDate ? `Born ${String(patient.birthDate)}${age !== undefined ? ` (${age} y)` : ''}` : 'Birth date not recorded'}
        {patient.gender ? ` · ${String(patient.gender)}` : ''}
        {mrn ? ` · MRN ${mrn}` : ''}
      </p>
      {flags.map((f) => (
        <p key={f.id} className="flag" role="note">
          {conceptText(f.code) ?? 'Flag'}
        </p>
      ))}
    </section>
  );
}
