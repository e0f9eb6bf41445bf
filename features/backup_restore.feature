@quarterly
Feature: Backups, restores and point-in-time recovery
  The spec's backup strategy: weekly full and 6-hourly incremental backups into S3, encrypted by the
  backup tool (pgBackRest, aes-256-cbc) and by the store (SSE AES256), a daily integrity verification,
  retention of 90 days for fulls and 7 days for incrementals, and restores into a separate target
  (waqiti_restored). Every restore is judged against what the clients saw acknowledged, not row counts.

  Background:
    Given the platform is healthy

  @backup
  Scenario: A full and an incremental backup are taken under load and listed with their WAL ranges
    Given the ledger load "steady" is running
    When a full backup is taken
    Then the repository lists it as a full backup with its WAL range
    When the load has made 200 more acknowledged writes
    And an incremental backup is taken
    Then the repository lists it as an incremental backup with its WAL range
    And it depends on the newest full backup before it

  @restore @nightly
  Scenario: The newest backup restores into a separate target
    Given the ledger load "steady" is running
    And a full backup is taken
    When the load has made 200 more acknowledged writes
    And the newest backup is restored into "waqiti_restored"
    Then the copy holds every transfer acknowledged before the backup began and none invoked after it ended
    And the live database is untouched and the copy is named "waqiti_restored"

  @pitr @slow
  Scenario: Point-in-time recovery holds exactly the writes acknowledged before the target time
    Given the ledger load "steady" is running
    And a full backup is taken
    When the load has made 200 more acknowledged writes
    And a target time is taken
    And the load has made 200 more acknowledged writes
    And the WAL up to now is archived
    And the copy is restored to the target time
    Then the copy holds every transfer acknowledged before the target and none invoked after it

  @backup_verify
  Scenario: The daily validation job verifies every file and test-restores the newest set
    Given a full backup is taken
    When the daily validation job runs
    Then the test restore answers with the ledger's accounts and conserved balances

  @retention
  Scenario Outline: Retention keeps fulls 90 days and expires incremental chains after 7 days
    Given a full backup is taken
    And an incremental backup is taken
    When the retention is applied <days> days from now
    Then <outcome>

    Examples:
      | days | outcome                                                    |
      | 0    | nothing is expired                                         |
      | 8    | every incremental chain is expired and every full backup is kept |

  @backup_encryption
  Scenario: The backups cannot be read without the cipher passphrase
    Given a full backup is taken
    Then the backups cannot be read with another cipher passphrase
    And they are read with their own

  @object_store_outage @destructive @slow
  Scenario: A backup attempted while the object store is down fails loudly and is reported
    When the object store is stopped
    Then an incremental backup attempted for 15 seconds fails loudly
    And after the heal an incremental backup succeeds again
    And the platform is healthy again
