// Names of the Key Vault secrets a stack keeps. Only names and versions ever leave Key Vault:
// they go into orchestration inputs, custom status, history and logs; values never do.
export const SECRET_NAMES = {
  /** MySQL flexible server administrator password */
  dbAdminPassword: "mysql-admin-password",
  /** passwords of the two alternating application users (APP_USERS.a / APP_USERS.b) */
  dbAppPasswordA: "db-app-a-password",
  dbAppPasswordB: "db-app-b-password",
  /** generated replacement for Guacamole's default guacadmin password */
  guacadminPassword: "guacadmin-password",
  /** TLS private key + certificate chain as one PEM bundle (issue: certificates) */
  tlsBundle: "tls-bundle",
  /** the web VMs' admin SSH public key: Azure requires one when password login is off; its private
   * half is thrown away when it is made, so nobody can log in (management is Run Command) */
  vmSshPublicKey: "vm-ssh-public-key",
  /** ACME account key (issue: certificates) */
  acmeAccountKey: "acme-account-key",
  /** the private key of a certificate order in progress, kept so a retried issuance resumes the same
   * order instead of placing another; disabled once the bundle is stored */
  tlsPendingKey: "tls-pending-key",
} as const;

export type SecretName = (typeof SECRET_NAMES)[keyof typeof SECRET_NAMES];

export function appUserSecretName(slot: "a" | "b"): SecretName {
  return slot === "a" ? SECRET_NAMES.dbAppPasswordA : SECRET_NAMES.dbAppPasswordB;
}
