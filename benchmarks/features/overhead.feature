Feature: The harness's own cost per scenario
  A scenario with no fault at all: the load is started until it writes steadily, then the drill ends as
  every drill ends (heal, Locust stopped, everything read back). What that takes is the harness's overhead,
  paid by every drill on top of the fault's own physics.

  Scenario Outline: No fault, end to end
    Given the platform is healthy
    And the full load "drill" is running
    Then the platform is healthy again

    Examples:
      | run |
      | 1   |
      | 2   |
      | 3   |
      | 4   |
      | 5   |
