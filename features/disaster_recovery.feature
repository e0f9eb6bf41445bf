@quarterly @destructive
Feature: Disaster recovery of the whole site from the object store
  The whole PostgreSQL cluster is lost: every member, its disk and its state in the DCS, as when the
  site goes. Only the object store's repository (backups and archived WAL) is left, and the cluster is
  rebuilt from it alone. RTO (15 minutes) and RPO (1 hour) are measured end to end from what the
  clients saw; the actual figures go to results.json and the evidence report.

  @site_loss @nightly @slow
  Scenario: The PostgreSQL cluster is lost and rebuilt from the object store alone
    Given the platform is healthy
    And the ledger load "steady" is running
    And a full backup is taken
    When the load has made 200 more acknowledged writes
    And the whole PostgreSQL cluster is lost with every member's disk
    Then no member of the PostgreSQL cluster is left
    When the cluster is rebuilt from the object store alone within 900 seconds
    Then writes resume within 900 seconds
    And the measured RTO is within the target
    And the measured RPO is within the target
    And the restore mode measured the data lost
    And the platform is healthy again
