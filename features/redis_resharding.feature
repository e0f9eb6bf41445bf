@quarterly @destructive
Feature: Redis Cluster resharding and master failover under load
  Session and counter writes (the session load) go to every shard while slots move between masters or
  a master dies. The checker reports RTO and lost acknowledged writes per shard: a cluster is down for
  the keys of any shard that is down, and a global write gap would hide it.

  Background:
    Given the platform is healthy
    And the session load "steady" is running

  @redis_reshard
  Scenario: Slots move between masters while clients write, then the slots are rebalanced
    When 2000 slots are moved from the busiest master to the least busy one
    Then the moved slots are served by their new master
    And the cluster serves all 16384 slots within 60 seconds
    When the Redis slots are rebalanced
    Then every master serves 5461 to 5462 slots
    And every shard recovers within the RTO target and loses no acknowledged write
    And the platform is healthy again

  @redis_master_failover @nightly
  Scenario: A master is killed and its replica is promoted
    When a Redis master is killed
    Then its replica is promoted within 60 seconds
    And the cluster serves all 16384 slots within 60 seconds
    When the drill heals the platform
    Then the old master rejoins as a replica within 60 seconds
    And every shard recovers within the RTO target and loses no acknowledged write

  @redis_reshard
  Scenario: A master is added and the slots are rebalanced onto it
    When a new master joins the cluster and the slots are rebalanced onto it
    Then 4 masters serve slots, the new one included
    And every master serves 4095 to 4097 slots
    And the cluster serves all 16384 slots within 60 seconds
    And after the heal the cluster is back to 3 masters with all 16384 slots
    And every shard recovers within the RTO target and loses no acknowledged write
