"""/imagine, /music, /video <prompt>: order a generation; the model is picked from a keyboard
when several fit. One progress message is edited as the job advances (by the worker), and the
result comes with "again" and "cancel" buttons."""

from __future__ import annotations

from uuid import UUID

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.filters import IsAdmin
from db.models import User
from services.generation.analytics import ai_stats
from services.generation.catalog import Kind
from services.generation.usecase import Generation
from services.i18n import Translator
from services.ledger.amounts import format_amount

COMMANDS: dict[str, Kind] = {"imagine": "image", "music": "music", "video": "video"}


class PickModel(CallbackData, prefix="genm"):
    model: str


class JobAction(CallbackData, prefix="gen"):
    action: str
    job: UUID


def cancel_markup(t: Translator, job_id: UUID) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        text=t("generation.button_cancel"),
        callback_data=JobAction(action="cancel", job=job_id).pack(),
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def start_job(
    message: Message,
    user: User,
    t: Translator,
    generation: Generation,
    *,
    model: str,
    prompt: str,
    key: str,
) -> None:
    job, created = await generation.order(
        user_id=user.id, request_key=key, model=model, prompt=prompt, chat_id=message.chat.id
    )
    if not created:
        return
    progress = await message.answer(
        t("generation.progress", progress=0), reply_markup=cancel_markup(t, job.id)
    )
    await generation.set_progress_message(user.id, job.id, progress.message_id)


async def order(
    message: Message,
    command: CommandObject,
    user: User,
    t: Translator,
    generation: Generation,
    state: FSMContext,
) -> None:
    kind = COMMANDS[command.command.lower()]
    prompt = (command.args or "").strip()
    if not prompt:
        await message.answer(t("generation.usage", command=command.command))
        return
    models = generation.models.of_kind(kind)
    key = f"bot:{message.chat.id}:{message.message_id}"
    if len(models) == 1:
        await start_job(message, user, t, generation, model=models[0].id, prompt=prompt, key=key)
        return
    await state.update_data(generation_prompt=prompt, generation_key=key)
    rows = [
        [
            InlineKeyboardButton(
                text=t(
                    "generation.model_button",
                    title=spec.title,
                    price=format_amount(spec.price, 6),
                ),
                callback_data=PickModel(model=spec.id).pack(),
            )
        ]
        for spec in models
    ]
    await message.answer(
        t("generation.pick_model"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows)
    )


async def picked(
    query: CallbackQuery,
    callback_data: PickModel,
    user: User,
    t: Translator,
    generation: Generation,
    state: FSMContext,
) -> None:
    data = await state.get_data()
    prompt, key = data.get("generation_prompt"), data.get("generation_key")
    if not isinstance(query.message, Message) or not prompt or not key:
        await query.answer(t("generation.expired"), show_alert=True)
        return
    await state.update_data(generation_prompt=None, generation_key=None)
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    model = generation.models.get(callback_data.model).id
    await start_job(query.message, user, t, generation, model=model, prompt=prompt, key=key)


async def job_action(
    query: CallbackQuery,
    callback_data: JobAction,
    user: User,
    t: Translator,
    generation: Generation,
) -> None:
    if callback_data.action == "cancel":
        await generation.cancel(user.id, callback_data.job)
        await query.answer(t("generation.cancelled_short"))
        return
    previous = await generation.get(user.id, callback_data.job)
    await query.answer()
    if isinstance(query.message, Message):
        await start_job(
            query.message,
            user,
            t,
            generation,
            model=previous.model,
            prompt=previous.prompt,
            key=f"bot:again:{query.id}",
        )


async def stats_ai(message: Message, t: Translator, generation: Generation) -> None:
    async with generation.db.service() as session:
        rows = await ai_stats(session, 7)
    lines = [t("generation.stats_title")]
    lines += [
        t(
            "generation.stats_line",
            day=row.day.isoformat(),
            provider=row.provider,
            jobs=row.jobs,
            rate=round(row.success_rate * 100),
            p50=row.p50_ms or 0,
            p95=row.p95_ms or 0,
            cost=format_amount(int(row.cost_usd), 6),
            revenue=format_amount(int(row.revenue), 6),
        )
        for row in rows
    ]
    if not rows:
        lines.append(t("generation.stats_empty"))
    await message.answer("\n".join(lines))


def build_router() -> Router:
    router = Router(name="generation")
    router.message.register(stats_ai, Command("stats_ai"), IsAdmin())
    router.message.register(order, Command(*COMMANDS))
    router.callback_query.register(picked, PickModel.filter())
    router.callback_query.register(job_action, JobAction.filter(F.action.in_({"cancel", "again"})))
    return router
