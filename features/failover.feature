@quarterly @destructive
Feature: PostgreSQL failover under steady ledger load
  The ledger load (transfers through the read-write endpoint, balance reads from the replicas) runs
  through each drill. RTO and RPO are measured by the checker from what the clients saw, against the
  targets (RTO 900 s, RPO 3600 s); synchronous commit promises that no acknowledged transfer is lost.

  Background:
    Given the platform is healthy
    And the ledger load "steady" is running

  Scenario Outline: The primary is lost without warning
    When the PostgreSQL primary is <fault>
    Then another member is promoted within 120 seconds
    And the synchronous standby was promoted
    And writes resume within 900 seconds
    When the drill heals the platform
    Then the old primary rejoins as a replica within 180 seconds
    And the measured RTO is within the target
    And the measured RPO is within the target
    And no acknowledged write is lost

    @primary_crash @nightly
    Examples: crash
      | fault  |
      | killed |

    @primary_isolation @slow
    Examples: network isolation (the isolated old primary must not acknowledge writes that are later lost)
      | fault               |
      | cut off the network |

  @primary_freeze
  Scenario: The primary hangs for less than the leader key's ttl
    When the PostgreSQL primary is frozen for 5 seconds
    Then the same member is the primary within 30 seconds
    And writes resume within 60 seconds
    And the measured RTO is at most 30 seconds
    And no acknowledged write is lost

  @primary_freeze
  Scenario: The primary-freeze drill runs as its chaostoolkit experiment
    When the chaostoolkit experiment "primary_freeze" is run
    Then the experiment completes with its steady state intact and every rollback played
    And the measured RTO is at most 30 seconds
    And no acknowledged write is lost

  @sync_standby_loss
  Scenario: The synchronous standby is lost and writes continue
    When the synchronous standby is lost
    Then a synchronous standby is in place within 60 seconds
    And writes resume within 60 seconds
    And the measured RTO is at most 60 seconds
    And no acknowledged write is lost
    When the drill heals the platform
    Then the platform is healthy again

  @switchover
  Scenario: A planned switchover to a named replica
    When a planned switchover to the synchronous standby is requested by its name
    Then the named standby is the primary within 60 seconds
    And the old primary rejoins as a replica within 120 seconds
    And the measured RTO is within the target
    And no acknowledged write is lost

  @dcs_outage @slow
  Scenario: The DCS is down: the primary demotes itself and nobody is promoted
    When the DCS is killed
    Then the primary stops accepting writes within 60 seconds
    And no member is promoted while the DCS is down for 20 seconds
    When the drill heals the platform
    Then writes resume within 120 seconds
    And the measured RTO is within the target
    And the measured RPO is within the target
    And no acknowledged write is lost
