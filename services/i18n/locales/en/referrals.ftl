### The referral program: invite links, rewards, the admins' fraud review.

commands-invite = Invite friends and earn VIBE
referrals-link_bound = You joined through { $name }'s invite. Welcome!
referrals-link_unknown = This invite link is not valid, but you are welcome all the same.
referrals-link_self = That is your own invite link: share it with friends instead.
referrals-link_already = Invite links only count for new users, so this one changes nothing for you.
referrals-invite =
    <b>Invite friends</b> and earn VIBE when they buy, eight levels deep.
    Your link: { $link }
referrals-level_line = Level { $level }: { $referees } friends · { $pending } VIBE on hold · { $available } VIBE paid
referrals-totals = <b>Total</b>: { $pending } VIBE on hold, { $available } VIBE paid
referrals-share_button = Share my invite link
referrals-share_text = Join me on Good Vibe Live!
referrals-reward_notice = +{ $amount } { $asset } from a level-{ $level } friend, available on { $date }.
referrals-reward_notice_many = +{ $amount } { $asset } from { $count } friend purchases (levels { $levels }), available by { $date }.
referrals-flags_none = No open fraud flags.
referrals-flags_title = <b>Open fraud flags</b> (highest score first):
referrals-flag_line = #{ $id } { $rule } · score { $score } · { $name } ({ $telegram_id })
referrals-flag_usage = Usage: /flag &lt;id&gt;, /flag_approve &lt;id&gt;, /flag_reject &lt;id&gt; [ban]
referrals-flag_detail =
    Flag #{ $id }: { $rule }, score { $score }, { $status }
    User: { $name } ({ $telegram_id })
    Evidence: { $evidence }
referrals-flag_approved = Flag #{ $id } approved: the user's held rewards are paid when due.
referrals-flag_rejected = Flag #{ $id } rejected: { $voided } held rewards voided.

error-invalid_level = The level must be 1 to 8.
error-flag_not_found = There is no flag with this id.
error-flag_decided = This flag was already decided.

## The Mini App's Invite view.
miniapp-invite-tab = Invite
miniapp-invite-title = Invite friends
miniapp-invite-hint = You earn VIBE when the people you invite (and theirs, eight levels deep) buy tokens.
miniapp-invite-link = Bot link
miniapp-invite-app_link = App link
miniapp-invite-share = Share my link
miniapp-invite-share_text = Join me on Good Vibe Live!
miniapp-invite-level = Level
miniapp-invite-referees = Friends
miniapp-invite-pending = On hold
miniapp-invite-available = Paid
miniapp-invite-total = Total
miniapp-invite-totals = { $pending } on hold · { $available } paid
miniapp-tx-referral_reward = Referral reward
