### The P2P daily limit: /limits.

commands-limits = Your daily sending limit
limits-title = <b>Daily sending limit</b>
limits-line = { $asset }: sent <b>{ $used }</b> of { $limit }, <b>{ $left }</b> left
limits-line_unlimited = { $asset }: sent <b>{ $used }</b>, no limit
limits-resets =
    Starts again in { $hours } { $hours ->
        [one] hour
       *[other] hours
    } (00:00 UTC).
