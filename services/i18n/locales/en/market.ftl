### The P2P market: /market, /offer, /offers, /fill, the maker's fill notice and its errors.

commands-market = The order book
commands-offer = Offer tokens for other tokens
commands-offers = Your offers
commands-fill = Take an offer from the book

market-usage =
    <b>Market</b>: users trade tokens with each other at their own price.
    /market VIBE USDT — the book of a pair
    /offer 100 VIBE 25 USDT — sell 100 VIBE for 25 USDT
    /offers — your offers
    /fill ID 2.5 — take 2.5 from an offer (or its Take button under a book)
market-pairs_title = <b>Open books</b>
market-pair_line = { $sell } → { $buy }: { $count } { $count ->
        [one] offer
       *[other] offers
    }
market-no_offers = No open offers yet.
market-book_title = <b>{ $base }/{ $quote }</b>, price in { $quote } per { $base }
market-asks_title = <b>Selling { $base }</b> (best first)
market-bids_title = <b>Buying { $base }</b> (best first)
market-book_line = { $price } · { $amount } { $asset } left
market-side_empty = none
market-offer_usage = Write it like this: <code>/offer 100 VIBE 25 USDT</code> (sell 100 VIBE for 25 USDT), or with a smallest fill at the end: <code>/offer 100 VIBE 25 USDT 10</code>.
market-offer_created = Offer open: <b>{ $sell_amount } { $sell_asset }</b> for <b>{ $buy_amount } { $buy_asset }</b>. The { $sell_asset } is held until the offer is filled, cancelled or expires.
market-offers_title = <b>Your open offers</b>
market-offers_line = { $index }. { $remaining } of { $sell_amount } { $sell_asset } for { $buy_amount } { $buy_asset }
market-offers_none = You have no open offers. Make one with /offer.
market-cancel_button = Cancel { $index }
market-cancelled = Offer cancelled: { $amount } { $asset } returned to your balance.
market-filled_notice = Your offer was filled: <b>{ $amount } { $sell_asset }</b> sold for <b>{ $paid } { $buy_asset }</b>. Left in the offer: { $remaining } { $sell_asset }.
market-take_button = Take { $amount } { $asset } for { $pay_asset }
market-fill_usage = Write it like this: <code>/fill OFFER_ID 2.5</code> to take 2.5 of what the offer sells, or <code>/fill OFFER_ID</code> to take all that is left. The Take buttons under /market VIBE USDT show the id.
market-fill_confirm = Take <b>{ $amount } { $sell_asset }</b> for <b>{ $paid } { $buy_asset }</b>? You receive { $received } { $sell_asset } (fee { $fee } { $sell_asset }).
    To take less: <code>/fill { $offer_id } AMOUNT</code>
market-fill_confirm_button = Confirm
market-fill_cancel_button = Cancel
market-fill_dropped = Nothing taken.
market-fill_too_large = This amount is too large to confirm in the chat; use the Mini App.
market-filled = Done: { $received } { $sell_asset } received for { $paid } { $buy_asset } (fee { $fee } { $sell_asset }). Left in the offer: { $remaining } { $sell_asset }.

ledger-code-market_offer = market offer
ledger-code-market_fill = bought on the market
ledger-code-market_fee = market fee

error-market_same_asset = An offer must sell one token for another.
error-asset_not_tradable = This token cannot be traded on the market.
error-invalid_min_fill = The smallest fill must be between one unit and the amount offered.
error-too_many_open_offers = You already have { $max } open offers. Cancel one before making another.
error-offer_not_found = This offer was not found.
error-offer_not_open = This offer is no longer open.
error-self_trade = You cannot fill your own offer.
error-fill_exceeds_offer = The offer has less left than that. Reload it and try a smaller amount.
error-fill_below_minimum = This is less than the offer's smallest fill.
error-offer_maker_banned = This offer's maker is banned; it cannot be taken.

miniapp-market-tab = Market
miniapp-market-title = Order book
miniapp-market-base = Token
miniapp-market-quote = Priced in
miniapp-market-asks = Selling { $base }
miniapp-market-bids = Buying { $base }
miniapp-market-empty = No offers.
miniapp-market-row = { $price } { $quote } · { $amount } { $asset } left
miniapp-market-mine = yours
miniapp-market-fill = Take
miniapp-market-fill_confirm = Take { $amount } { $asset } for { $paid } { $pay_asset }?
miniapp-market-filled_title = Done
miniapp-market-filled = { $received } { $asset } received for { $paid } { $pay_asset } (fee { $fee } { $asset })
miniapp-market-need_amount = Enter an amount of { $asset } (up to { $decimals } decimals).
miniapp-market-offer_title = Make an offer
miniapp-market-sell = Sell
miniapp-market-sell_amount = Amount to sell
miniapp-market-buy = For
miniapp-market-buy_amount = Amount to get for all of it
miniapp-market-offer_button = Offer
miniapp-market-offer_confirm = Offer { $sell_amount } { $sell_asset } for { $buy_amount } { $buy_asset }? The { $sell_asset } is held until the offer is filled, cancelled or expires.
miniapp-market-offer_open_title = Offer open
miniapp-market-offer_open = { $sell_amount } { $sell_asset } for { $buy_amount } { $buy_asset }
miniapp-market-my_title = Your open offers
miniapp-market-my_row = { $remaining } { $sell_asset } for { $buy_amount } { $buy_asset } in total
miniapp-market-cancel = Cancel
miniapp-market-cancelled_title = Offer cancelled
miniapp-market-cancelled = { $amount } { $asset } returned to your balance
