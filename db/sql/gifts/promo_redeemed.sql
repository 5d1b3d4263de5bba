-- gifts.promo_redeemed: the answer a redemption gave, by its credit's transfer id; NULL if
-- there is none. A redemption keyed on its cause (the bot's chat and message) answers with it
-- again when Telegram delivers the update again (`gifts.redeem_promo`, `gifts.redeem_promos`).
-- The whole current definition; migrations apply frozen copies of it (0023_promo_causes).
--
CREATE OR REPLACE FUNCTION gifts.promo_redeemed(p_transfer uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT jsonb_build_object(
               'result', 'ok', 'promo_id', c.id, 'code', c.code, 'asset', c.asset,
               'decimals', a.decimals, 'amount', r.amount::text, 'transfer_id', r.transfer_id,
               'slot', r.slot, 'use', r.use_number)
      FROM gifts.promo_redemptions r
      JOIN gifts.promo_codes c ON c.id = r.promo_id
      JOIN tokens.assets a ON a.code = c.asset
     WHERE r.transfer_id = p_transfer AND r.use_number IS NOT NULL
$function$;
