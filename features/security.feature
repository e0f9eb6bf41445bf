@security @quarterly
Feature: The platform keeps the spec's security promises
  TLS 1.2 or later for every connection, AES-256 at rest, encrypted backups, network policies, minimal RBAC,
  strong passwords, audit logging of all database operations and failed logins monitored: each read from the
  running platform (never from its configuration files), and each recorded as a control with what was examined.

  Background:
    Given the platform is healthy

  @nightly @tls
  Scenario: Every endpoint refuses plain text and TLS below 1.2
    Then no endpoint serves a plain-text connection
    And every endpoint refuses a TLS 1.1 handshake and completes a TLS 1.2 one
    And the control plane refuses a client without a client certificate

  @nightly @least_privilege
  Scenario: The application holds no more than it needs and passwords are strong
    Then the application role holds no privilege beyond its own data
    And every login role's password is a SCRAM-SHA-256 verifier and an md5 password is refused

  # Last: the refused logins raise PostgresFailedLogins, which stays firing for a minute, and the TLS probes'
  # plain-text attempts are refused logins too (each "no pg_hba.conf entry"), three on the primary.
  @nightly @at_rest @backup_encryption
  Scenario: Data at rest is AES-256 ciphertext on every volume
    When a canary is written through the application to PostgreSQL and Redis
    Then the canary reads back through the database and through Redis
    And every data volume is encrypted with AES-256
    And the canary is absent from the raw bytes of every data volume
    And the same scan finds a control written unencrypted to every data volume
    And backups are encrypted by the backup tool and by the object store

  @nightly @network_policy
  Scenario: Only the platform's own addresses reach the database members
    Then connections from an address outside the allowed ones are refused

  @nightly @audit @failed_logins
  Scenario: Database operations and refused logins are audited and alerted
    When the application runs a canary statement
    Then the database server's audit log records the canary statement within 10 seconds
    When 5 logins with a wrong password are refused by the primary
    Then the primary's log records the 5 failed logins
    And the alert "PostgresFailedLogins" is notified within its budget
