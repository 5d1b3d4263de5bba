### Реферальная программа: ссылки-приглашения, награды, проверка мошенничества.

commands-invite = Пригласить друзей и получать VIBE
referrals-link_bound = Вы пришли по приглашению { $name }. Добро пожаловать!
referrals-link_unknown = Эта ссылка-приглашение недействительна, но мы всё равно вам рады.
referrals-link_self = Это ваша собственная ссылка: поделитесь ею с друзьями.
referrals-link_already = Приглашения действуют только для новых пользователей, для вас эта ссылка ничего не меняет.
referrals-invite =
    <b>Приглашайте друзей</b> и получайте VIBE с их покупок, на восемь уровней вглубь.
    Ваша ссылка: { $link }
referrals-level_line = Уровень { $level }: друзей { $referees } · { $pending } VIBE на удержании · { $available } VIBE выплачено
referrals-totals = <b>Всего</b>: { $pending } VIBE на удержании, { $available } VIBE выплачено
referrals-share_button = Поделиться ссылкой
referrals-share_text = Присоединяйся к Good Vibe Live!
referrals-reward_notice = +{ $amount } { $asset } от друга уровня { $level }, доступно { $date }.
referrals-reward_notice_many = +{ $amount } { $asset } с покупок друзей ({ $count }, уровни { $levels }), доступно к { $date }.
referrals-flags_none = Открытых отметок о мошенничестве нет.
referrals-flags_title = <b>Открытые отметки</b> (по убыванию оценки):
referrals-flag_line = #{ $id } { $rule } · оценка { $score } · { $name } ({ $telegram_id })
referrals-flag_usage = Формат: /flag &lt;id&gt;, /flag_approve &lt;id&gt;, /flag_reject &lt;id&gt; [ban]
referrals-flag_detail =
    Отметка #{ $id }: { $rule }, оценка { $score }, { $status }
    Пользователь: { $name } ({ $telegram_id })
    Доказательства: { $evidence }
referrals-flag_approved = Отметка #{ $id } одобрена: удержанные награды будут выплачены в срок.
referrals-flag_rejected = Отметка #{ $id } отклонена: отменено удержанных наград: { $voided }.

error-invalid_level = Уровень должен быть от 1 до 8.
error-flag_not_found = Отметки с таким id нет.
error-flag_decided = По этой отметке уже принято решение.

## Экран «Пригласить» в мини-приложении.
miniapp-invite-tab = Пригласить
miniapp-invite-title = Пригласите друзей
miniapp-invite-hint = Вы получаете VIBE, когда приглашённые вами (и их приглашённые, на восемь уровней) покупают токены.
miniapp-invite-link = Ссылка на бота
miniapp-invite-app_link = Ссылка на приложение
miniapp-invite-share = Поделиться ссылкой
miniapp-invite-share_text = Присоединяйся к Good Vibe Live!
miniapp-invite-level = Уровень
miniapp-invite-referees = Друзья
miniapp-invite-pending = На удержании
miniapp-invite-available = Выплачено
miniapp-invite-total = Всего
miniapp-invite-totals = { $pending } на удержании · { $available } выплачено
miniapp-tx-referral_reward = Реферальная награда
