/**
 * Code tables for the synthetic records, taken from the value sets Synthea's US modules emit (SNOMED CT,
 * LOINC, RxNorm, CVX). Only public codes and display names; no patient data.
 */

export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const UCUM = 'http://unitsofmeasure.org';

export interface Code {
  readonly code: string;
  readonly display: string;
}

export const FAMILY_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin',
  'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson',
  'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores',
  'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts',
  'Gomez', 'Phillips', 'Evans', 'Turner', 'Diaz', 'Parker', 'Cruz', 'Edwards', 'Collins', 'Reyes',
  'Stewart', 'Morris', 'Morales', 'Murphy', 'Cook', 'Rogers', 'Gutierrez', 'Ortiz', 'Morgan', 'Cooper',
  'Peterson', 'Bailey', 'Reed', 'Kelly', 'Howard', 'Ramos', 'Kim', 'Cox', 'Ward', 'Richardson',
  'Watson', 'Brooks', 'Chavez', 'Wood', 'James', 'Bennett', 'Gray', 'Mendoza', 'Ruiz', 'Hughes',
  'Price', 'Alvarez', 'Castillo', 'Sanders', 'Patel', 'Myers', 'Long', 'Ross', 'Foster', 'Jimenez',
  'Powell', 'Jenkins', 'Perry', 'Russell', 'Sullivan', 'Bell', 'Coleman', 'Butler', 'Henderson', 'Barnes',
  'Gonzales', 'Fisher', 'Vasquez', 'Simmons', 'Romero', 'Jordan', 'Patterson', 'Alexander', 'Hamilton', 'Graham',
] as const;

export const GIVEN_MALE = ['James', 'John', 'Robert', 'Michael', 'William', 'David', 'Richard', 'Joseph', 'Thomas', 'Charles', 'Daniel', 'Matthew', 'Anthony', 'Mark', 'Steven', 'Paul', 'Andrew', 'Joshua', 'Kenneth', 'Kevin'] as const;
export const GIVEN_FEMALE = ['Mary', 'Patricia', 'Jennifer', 'Linda', 'Elizabeth', 'Barbara', 'Susan', 'Jessica', 'Sarah', 'Karen', 'Nancy', 'Lisa', 'Betty', 'Margaret', 'Sandra', 'Ashley', 'Emily', 'Donna', 'Michelle', 'Carol'] as const;

export const CITIES = [
  { city: 'Boston', postalCode: '02108' }, { city: 'Worcester', postalCode: '01608' }, { city: 'Springfield', postalCode: '01103' },
  { city: 'Cambridge', postalCode: '02139' }, { city: 'Lowell', postalCode: '01852' }, { city: 'Brockton', postalCode: '02301' },
  { city: 'Quincy', postalCode: '02169' }, { city: 'Lynn', postalCode: '01901' }, { city: 'Newton', postalCode: '02458' },
  { city: 'Somerville', postalCode: '02143' }, { city: 'Framingham', postalCode: '01702' }, { city: 'Salem', postalCode: '01970' },
] as const;

export const STREETS = ['Main St', 'Oak Ave', 'Maple St', 'Cedar Ln', 'Pine St', 'Elm St', 'Washington St', 'Lake Rd', 'Hill St', 'Park Ave'] as const;

/** Encounter types (SNOMED) with the v3 ActCode class Synthea pairs them with. */
export const ENCOUNTER_TYPES: readonly (Code & { class: 'AMB' | 'EMER' | 'IMP' })[] = [
  { code: '185349003', display: 'Encounter for check up (procedure)', class: 'AMB' },
  { code: '162673000', display: 'General examination of patient (procedure)', class: 'AMB' },
  { code: '185345009', display: 'Encounter for symptom (procedure)', class: 'AMB' },
  { code: '390906007', display: 'Follow-up encounter (procedure)', class: 'AMB' },
  { code: '50849002', display: 'Emergency room admission (procedure)', class: 'EMER' },
  { code: '32485007', display: 'Hospital admission (procedure)', class: 'IMP' },
];

export const CONDITIONS: readonly Code[] = [
  { code: '44054006', display: 'Diabetes mellitus type 2 (disorder)' },
  { code: '59621000', display: 'Essential hypertension (disorder)' },
  { code: '55822004', display: 'Hyperlipidemia (disorder)' },
  { code: '35489007', display: 'Depressive disorder (disorder)' },
  { code: '197480006', display: 'Anxiety disorder (disorder)' },
  { code: '195662009', display: 'Acute viral pharyngitis (disorder)' },
  { code: '10509002', display: 'Acute bronchitis (disorder)' },
  { code: '444814009', display: 'Viral sinusitis (disorder)' },
  { code: '40055000', display: 'Chronic sinusitis (disorder)' },
  { code: '162864005', display: 'Body mass index 30+ - obesity (finding)' },
  { code: '15777000', display: 'Prediabetes (finding)' },
  { code: '271737000', display: 'Anemia (disorder)' },
  { code: '233678006', display: 'Childhood asthma (disorder)' },
  { code: '195967001', display: 'Asthma (disorder)' },
  { code: '68496003', display: 'Polyp of colon (disorder)' },
  { code: '43878008', display: 'Streptococcal sore throat (disorder)' },
  { code: '66383009', display: 'Gingivitis (disorder)' },
  { code: '72892002', display: 'Normal pregnancy (finding)' },
  { code: '267036007', display: 'Dyspnea (finding)' },
  { code: '49727002', display: 'Cough (finding)' },
];

export const MEDICATIONS: readonly Code[] = [
  { code: '314076', display: 'lisinopril 10 MG Oral Tablet' },
  { code: '860975', display: '24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet' },
  { code: '197361', display: 'amlodipine 5 MG Oral Tablet' },
  { code: '310798', display: 'Hydrochlorothiazide 25 MG Oral Tablet' },
  { code: '312961', display: 'Simvastatin 20 MG Oral Tablet' },
  { code: '259255', display: 'atorvastatin 80 MG Oral Tablet' },
  { code: '313782', display: 'Acetaminophen 325 MG Oral Tablet' },
  { code: '198405', display: 'Ibuprofen 100 MG Oral Tablet' },
  { code: '308182', display: 'Amoxicillin 250 MG Oral Capsule' },
  { code: '834061', display: 'Penicillin V Potassium 250 MG Oral Tablet' },
  { code: '895994', display: '120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler' },
  { code: '745679', display: '200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler' },
  { code: '312938', display: 'Sertraline 100 MG Oral Tablet' },
  { code: '310965', display: 'Ibuprofen 200 MG Oral Tablet' },
  { code: '849574', display: 'Naproxen sodium 220 MG Oral Tablet' },
];

export const PROCEDURES: readonly Code[] = [
  { code: '430193006', display: 'Medication reconciliation (procedure)' },
  { code: '710824005', display: 'Assessment of health and social care needs (procedure)' },
  { code: '171207006', display: 'Depression screening (procedure)' },
  { code: '454711000124102', display: 'Depression screening using Patient Health Questionnaire Two-Item score (procedure)' },
  { code: '428211000124100', display: 'Assessment of substance use (procedure)' },
  { code: '73761001', display: 'Colonoscopy (procedure)' },
  { code: '117015009', display: 'Throat culture (procedure)' },
  { code: '23426006', display: 'Measurement of respiratory function (procedure)' },
  { code: '252160004', display: 'Standard pregnancy test (procedure)' },
  { code: '76601001', display: 'Intramuscular injection (procedure)' },
  { code: '399208008', display: 'Plain chest X-ray (procedure)' },
  { code: '180256009', display: 'Subcutaneous immunotherapy (procedure)' },
];

export const VACCINES: readonly Code[] = [
  { code: '140', display: 'Influenza, seasonal, injectable, preservative free' },
  { code: '113', display: 'Td (adult) preservative free' },
  { code: '133', display: 'Pneumococcal conjugate PCV 13' },
  { code: '33', display: 'pneumococcal polysaccharide vaccine, 23 valent' },
  { code: '43', display: 'Hep B, adult' },
  { code: '62', display: 'HPV, quadrivalent' },
  { code: '121', display: 'zoster' },
  { code: '208', display: 'SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose' },
];

/** A quantitative observation: LOINC code, UCUM unit and a plausible adult distribution. */
export interface QuantityKind extends Code {
  readonly unit: string;
  readonly mean: number;
  readonly sd: number;
  readonly min: number;
  readonly max: number;
  readonly decimals: number;
}

/** Vital signs, in the order Synthea records them at a check-up. 8480-6 is what the search phase queries. */
export const VITALS: readonly QuantityKind[] = [
  { code: '8302-2', display: 'Body Height', unit: 'cm', mean: 170, sd: 10, min: 140, max: 200, decimals: 1 },
  { code: '29463-7', display: 'Body Weight', unit: 'kg', mean: 78, sd: 15, min: 40, max: 160, decimals: 1 },
  { code: '39156-5', display: 'Body mass index (BMI) [Ratio]', unit: 'kg/m2', mean: 27, sd: 5, min: 16, max: 50, decimals: 2 },
  { code: '8480-6', display: 'Systolic blood pressure', unit: 'mm[Hg]', mean: 125, sd: 15, min: 85, max: 200, decimals: 0 },
  { code: '8462-4', display: 'Diastolic blood pressure', unit: 'mm[Hg]', mean: 80, sd: 10, min: 50, max: 120, decimals: 0 },
  { code: '8867-4', display: 'Heart rate', unit: '/min', mean: 75, sd: 12, min: 45, max: 140, decimals: 0 },
];

/** Laboratory panels (DiagnosticReport code) and their member results. */
export const PANELS: readonly (Code & { readonly results: readonly QuantityKind[] })[] = [
  {
    code: '51990-0', display: 'Basic metabolic panel - Blood', results: [
      { code: '2339-0', display: 'Glucose [Mass/volume] in Blood', unit: 'mg/dL', mean: 95, sd: 15, min: 60, max: 300, decimals: 1 },
      { code: '6299-2', display: 'Urea nitrogen [Mass/volume] in Blood', unit: 'mg/dL', mean: 14, sd: 4, min: 5, max: 40, decimals: 1 },
      { code: '38483-4', display: 'Creatinine [Mass/volume] in Blood', unit: 'mg/dL', mean: 1, sd: 0.2, min: 0.5, max: 3, decimals: 2 },
      { code: '2951-2', display: 'Sodium [Moles/volume] in Blood', unit: 'mmol/L', mean: 140, sd: 2, min: 130, max: 150, decimals: 1 },
      { code: '2823-3', display: 'Potassium [Moles/volume] in Blood', unit: 'mmol/L', mean: 4.2, sd: 0.4, min: 3, max: 6, decimals: 1 },
    ],
  },
  {
    code: '57698-3', display: 'Lipid panel with direct LDL - Serum or Plasma', results: [
      { code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma', unit: 'mg/dL', mean: 190, sd: 30, min: 110, max: 320, decimals: 1 },
      { code: '2571-8', display: 'Triglycerides', unit: 'mg/dL', mean: 140, sd: 40, min: 40, max: 500, decimals: 1 },
      { code: '18262-6', display: 'Low Density Lipoprotein Cholesterol', unit: 'mg/dL', mean: 110, sd: 25, min: 40, max: 250, decimals: 1 },
      { code: '2085-9', display: 'High Density Lipoprotein Cholesterol', unit: 'mg/dL', mean: 55, sd: 12, min: 20, max: 110, decimals: 1 },
    ],
  },
  {
    code: '58410-2', display: 'CBC panel - Blood by Automated count', results: [
      { code: '6690-2', display: 'Leukocytes [#/volume] in Blood by Automated count', unit: '10*3/uL', mean: 7, sd: 1.5, min: 3, max: 15, decimals: 1 },
      { code: '789-8', display: 'Erythrocytes [#/volume] in Blood by Automated count', unit: '10*6/uL', mean: 4.8, sd: 0.4, min: 3.5, max: 6.5, decimals: 2 },
      { code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood', unit: 'g/dL', mean: 14, sd: 1.3, min: 9, max: 19, decimals: 1 },
      { code: '4544-3', display: 'Hematocrit [Volume Fraction] of Blood by Automated count', unit: '%', mean: 42, sd: 4, min: 28, max: 55, decimals: 1 },
      { code: '777-3', display: 'Platelets [#/volume] in Blood by Automated count', unit: '10*3/uL', mean: 250, sd: 50, min: 120, max: 450, decimals: 0 },
    ],
  },
  {
    code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', results: [
      { code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', unit: '%', mean: 5.8, sd: 0.8, min: 4, max: 12, decimals: 1 },
    ],
  },
];
