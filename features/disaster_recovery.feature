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

  @region_loss @slow
  Scenario: The whole primary region is lost and the platform fails over to the backup region
    Given the platform is healthy
    And the full load "steady" is running
    And a full backup is taken
    And a Redis backup is taken
    And the backups are replicated to the backup region
    When the load has made 200 more acknowledged writes
    And the whole primary region is lost
    Then nothing of the primary region is left
    When the platform fails over to the backup region within 900 seconds
    Then writes resume within 900 seconds
    And every service's clients have 200 more acknowledged writes in the backup region
    And the clients followed the global endpoint without a restart
    And the measured RTO is within the target
    And the measured RPO is within the target
    And the region loss's data lost is measured per service and its RPO decomposed
    And the platform is healthy again

  @redis_cluster_crash
  Scenario: Every Redis node crashes at once and the cluster comes back from its own files
    Given the platform is healthy
    And the session load "steady" is running
    When the load has made 200 more acknowledged writes
    And the whole Redis cluster crashes
    And the Redis cluster is restarted from its own files within 120 seconds
    Then the cluster serves all 16384 slots within 60 seconds
    And at most the acknowledged Redis writes of the last 1.5 seconds are lost
    And the measured RTO is within the target
    And the platform is healthy again
