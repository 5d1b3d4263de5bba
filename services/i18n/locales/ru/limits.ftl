### Дневной лимит переводов: /limits.

commands-limits = Дневной лимит переводов
limits-title = <b>Дневной лимит переводов</b>
limits-line = { $asset }: отправлено <b>{ $used }</b> из { $limit }, осталось <b>{ $left }</b>
limits-line_unlimited = { $asset }: отправлено <b>{ $used }</b>, без лимита
limits-resets =
    Обновится через { $hours } { $hours ->
        [one] час
        [few] часа
       *[many] часов
    } (00:00 UTC).
