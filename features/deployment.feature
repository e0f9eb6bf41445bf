@deployment @nightly @quarterly
Feature: The deployed platform conforms to the spec
  Every value in the spec's Configuration Details (and its architecture: three members with synchronous
  commit, a six-node Redis Cluster, encrypted backups on a schedule) is read from the live system and
  compared with the spec. A mismatch fails and names the setting with its expected and actual value.

  Background:
    Given the platform is healthy

  Scenario: PostgreSQL runs with the spec's parameters
    Then the PostgreSQL settings on the primary are:
      | setting                      | expected |
      | max_connections              | 200      |
      | shared_buffers               | 256MB    |
      | effective_cache_size         | 1GB      |
      | work_mem                     | 4MB      |
      | maintenance_work_mem         | 64MB     |
      | log_min_duration_statement   | 1000ms   |
      | random_page_cost             | 1.1      |
      | effective_io_concurrency     | 200      |
      | checkpoint_completion_target | 0.9      |
      | wal_buffers                  | 16MB     |

  Scenario: SSL is required
    Then the PostgreSQL settings on the primary are:
      | setting                  | expected |
      | ssl                      | on       |
      | password_encryption      | scram-sha-256 |
    And a connection without TLS is refused
    And the harness's own session runs over TLS:
      | setting     | expected |
      | session ssl | on       |
      | session tls version | TLSv1.3 |

  Scenario: Three instances with synchronous commit
    Then the cluster has 3 members: one primary, one synchronous standby and one replica, all running
    And Patroni's cluster configuration is:
      | setting                 | expected |
      | synchronous_mode        | true     |
      | synchronous_mode_strict | true     |
    And the PostgreSQL settings on the primary are:
      | setting            | expected |
      | synchronous_commit | on       |

  Scenario: Redis runs as a cluster with authentication, AOF + RDB and a bounded LRU memory
    Then every Redis node is configured:
      | setting          | expected                |
      | cluster-enabled  | yes                     |
      | appendonly       | yes                     |
      | save             | 3600 1 300 100 60 10000 |
      | maxmemory        | 1GB                     |
      | maxmemory-policy | allkeys-lru             |
      | port             | 0                       |
      | tls-cluster      | yes                     |
      | tls-replication  | yes                     |
      | tls-protocols    | TLSv1.2 TLSv1.3         |
      | tls-auth-clients | no                      |
      | masteruser       | waqiti_replication      |
      | masterauth       | set                     |
    And every Redis node has the ACL users:
      | setting                     | expected                                                        |
      | users                       | default waqiti_admin waqiti_monitor waqiti_replication          |
      | default enabled             | on                                                              |
      | default password            | sha-256                                                         |
      | default commands            | +@all -@dangerous                                               |
      | waqiti_admin password       | sha-256                                                         |
      | waqiti_admin commands       | +@all                                                           |
      | waqiti_replication password | sha-256                                                         |
      | waqiti_replication keys     | none                                                            |
      | waqiti_replication commands | -@all +ping +psync +replconf                                    |
      | waqiti_monitor password     | sha-256                                                         |
      | waqiti_monitor keys         | none                                                            |
      | waqiti_monitor commands     | -@all +client\|setname +cluster\|info +info +latency\|latest +ping +slowlog\|len |
    And on every Redis node the application's user may run only:
      | setting                 | expected |
      | SET wd:probe 1          | allowed  |
      | CLUSTER SLOTS           | allowed  |
      | FLUSHALL                | refused  |
      | CONFIG SET maxmemory 1  | refused  |
      | DEBUG SLEEP 0           | refused  |
      | KEYS *                  | refused  |
      | ACL SETUSER intruder on | refused  |
    And the Redis Cluster reports:
      | setting                | expected |
      | cluster_state          | ok       |
      | cluster_slots_assigned | 16384    |
      | cluster_size           | 3        |
      | cluster_known_nodes    | 6        |
    And the Redis Cluster has 3 masters serving slots, each with a connected replica
    And every Redis node refuses a client without the password

  Scenario: Backups are encrypted in the object store
    Then the backup repository is encrypted:
      | setting                        | expected    |
      | cipher                         | aes-256-cbc |
      | bucket default encryption      | AES256      |
      | object server-side encryption  | AES256      |
      | object encrypted by pgBackRest | yes         |

  Scenario: Backups are scheduled and kept as the spec says
    Then the backup schedule and retention are:
      | setting                    | expected    |
      | full schedule              | 0 2 * * 0   |
      | incremental schedule       | 0 */6 * * * |
      | verify schedule            | 0 4 * * *   |
      | full retention type        | time        |
      | full retention days        | 90          |
      | incremental retention days | 7           |
