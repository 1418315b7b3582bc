"""Documents in languages other than English and Chinese: detection, their own words as terms,
Korean spacing and word counts, ROUGE tokens, and the model-free method chosen for them."""

import json
import subprocess
import sys
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest

from reformer_cli.data.extraction import oracle_sentences
from reformer_cli.evaluation.rouge import reference_length, rouge, tokens
from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.scoring import ScoringConfig, candidate_indexes, sentence_features
from reformer_cli.summarize.selection import Budget
from reformer_cli.summarize.terms import terms
from reformer_cli.text.language import guess_language
from reformer_cli.text.sentences import count_words, split_sentences

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(PYTHON) if PYTHON.exists() else sys.executable
DEV = ROOT.parent / "shared" / "data" / "summarization"

SAMPLES = {
    "fr": "Le port de la ville est ouvert toute l'année. Les navires qui arrivent du nord "
          "apportent du bois et des céréales, et ils repartent avec du vin. Dans les années de "
          "mauvaise récolte, les marchands ne font pas de bénéfice et le conseil baisse les taxes.",
    "de": "Die Brücke über den Fluss wurde im letzten Jahr erneuert. Der alte Bau war nicht mehr "
          "sicher, und die Stadt hat eine neue Konstruktion aus Stahl gewählt. Seit dem Umbau ist "
          "der Verkehr auf der Straße ruhiger geworden.",
    "es": "El mercado del pueblo abre los sábados por la mañana. Los agricultores traen frutas y "
          "verduras de los campos cercanos, y la gente del barrio compra para toda la semana. En "
          "invierno el mercado se traslada a una sala cubierta.",
    "it": "La biblioteca della scuola è aperta anche il pomeriggio. Gli studenti possono prendere "
          "in prestito i libri per due settimane, e il personale aiuta nella ricerca. Nel nuovo "
          "anno la sala di lettura sarà più grande.",
    "pt": "O rio atravessa a cidade de norte a sul. Nas margens há parques onde as famílias passam "
          "o domingo, e os barcos levam turistas pelo centro histórico. Durante as chuvas de março "
          "o nível da água sobe e a prefeitura fecha as passagens mais baixas.",
    "nl": "De trein naar de kust vertrekt elk uur van het centraal station. In de zomer is het "
          "druk en worden er extra wagons aan de trein gekoppeld. Wie vroeg reist, heeft meestal "
          "een zitplaats bij het raam.",
    "ru": "Библиотека находится в старом здании на главной площади. Каждый день туда приходят "
          "студенты, которые готовятся к экзаменам. Зимой в читальном зале тепло и тихо, и многие "
          "остаются там до вечера.",
    "ko": "도서관은 시청 옆의 오래된 건물에 있다. 학생들은 시험 준비를 위해 매일 도서관을 찾는다. "
          "겨울에는 열람실이 따뜻하고 조용해서 저녁까지 머무는 사람이 많다.",
    "el": "Η βιβλιοθήκη βρίσκεται στο παλιό κτίριο της πλατείας. Οι φοιτητές έρχονται κάθε μέρα "
          "για να διαβάσουν. Τον χειμώνα η αίθουσα είναι ζεστή και ήσυχη.",
}
JAPANESE = ("図書館は市役所の隣の古い建物にあります。学生たちは試験の準備のために毎日図書館に来ます。"
            "冬になると閲覧室は暖かくて静かなので、夜まで残る人が多いです。")
CHINESE = "圖書館在市政府旁邊的舊樓裏。學生每天都來這裏準備考試。冬天閱覽室又暖和又安靜，很多人待到晚上。"


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_languages_other_than_english_are_told_apart(code):
    assert guess_language(SAMPLES[code]) == "other"


def test_english_chinese_and_japanese_are_recognised():
    assert guess_language(JAPANESE) == "ja"
    assert guess_language(CHINESE) == "zh"
    assert guess_language("Hello world.") == "en"  # no function word of any language
    # A Latin-script language without a profile is summarized as English (module docstring).
    assert guess_language("Dzisiaj rano pociąg do Krakowa był spóźniony o godzinę.") == "en"
    for key in sorted(topics):
        assert guess_language(topics[key]) == "en", key


@pytest.mark.skipif(not DEV.is_dir(), reason=f"dev data not found at {DEV} (../shared/data absent)")
def test_every_dev_document_keeps_its_language():
    for path in sorted(DEV.glob("*.dev.jsonl")):
        for line in path.open(encoding="utf-8"):
            row = json.loads(line)
            assert guess_language(row["document"]) == row.get("lang", "en"), (path.name, row["id"])


def test_other_languages_use_their_own_words_as_terms():
    assert terms("Библиотека находится в старом здании.", "other") == [
        "библиотека", "находится", "старом", "здании"]
    assert terms("Les navires arrivent du nord, à l'été.", "other") == [
        "navires", "arrivent", "nord", "été"]
    # English keeps its stemming and stopwords; its ASCII words are all it sees.
    assert terms("The hashes are defined", "en") == ["hash", "defin"]
    assert terms("Библиотека", "en") == []


def test_a_russian_documents_central_sentence_is_found_once():
    # Without terms in Cyrillic every vector would be zero, and the lead prior alone would pick
    # the first sentences (all filler).
    topic = "Насос системы охлаждения реактора отказал ночью на станции."
    filler = [f"Посторонняя фраза номер {i} рассказывает про {w} и {v}." for i, (w, v) in
              enumerate(zip(["яблоки", "поезда", "музыку", "реки", "облака", "шахматы"] * 2,
                            ["груши", "самолёты", "краски", "озёра", "дождь", "карты"] * 2))]
    text = " ".join(filler[:4] + [topic] + filler[4:8] + [topic] + filler[8:] + [topic])
    features = sentence_features(split_sentences(text), ScoringConfig(), "other")
    assert np.isclose(features.vectors[4] @ features.vectors[9], 1.0)
    summary = summarize_extractive(text, Budget(sentences=3))
    assert summary.language == "other"
    assert [s.text for s in summary.sentences].count(topic) == 1


def test_korean_keeps_its_spaces_and_counts_words_by_them():
    sentences = split_sentences(SAMPLES["ko"])
    assert sentences[0].text == "도서관은 시청 옆의 오래된 건물에 있다."
    assert count_words(sentences[0].text) == 6
    summary = summarize_extractive(SAMPLES["ko"] * 3, Budget(max_words=10))
    assert summary.language == "other"
    assert all(" " in s.text for s in summary.sentences)
    assert sum(count_words(s.text) for s in summary.sentences) <= 10


def test_japanese_is_selected_like_chinese_and_counted_by_characters():
    summary = summarize_extractive(JAPANESE * 3, Budget(max_words=40))
    assert summary.language == "ja"
    assert 0 < sum(count_words(s.text) for s in summary.sentences) <= 40


def test_rouge_tokens_for_other_languages_are_their_words():
    reference = "Библиотека находится на площади."
    assert tokens(reference, "other") == ["библиотека", "находится", "на", "площади"]
    assert rouge(reference, reference, "other").as_tuple() == (1.0, 1.0, 1.0)
    assert rouge("Зимой тепло.", reference, "other").as_tuple() == (0.0, 0.0, 0.0)
    assert tokens("図書館は。", "ja") == ["図", "書", "館", "は"]
    assert reference_length("図書館は。", "ja") == 4


def test_training_labels_of_a_russian_pair_pick_the_sentence_the_summary_repeats():
    # `reformer train --task extract` labels sentences with this oracle: with English tokens a
    # Cyrillic summary shared nothing with any sentence, and every label was "skip".
    sentences = split_sentences(SAMPLES["ru"])
    summary = "Студенты готовятся к экзаменам в библиотеке."
    picked = oracle_sentences(sentences, candidate_indexes(sentences), summary, "other")
    assert picked == {1}
    assert oracle_sentences(sentences, candidate_indexes(sentences), summary, "en") == set()


def summarize_cli(*args):
    return subprocess.run([PYTHON, "-m", "reformer_cli", "summarize", *map(str, args)],
                          capture_output=True, timeout=120, cwd=ROOT)


def test_a_french_report_gets_the_model_free_method_not_the_english_scorer(tmp_path):
    path = tmp_path / "rapport.txt"
    path.write_text("\n\n".join([SAMPLES["fr"]] * 4), encoding="utf-8")
    result = summarize_cli(path, "--format", "json", "--sentences", 2)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert (report["method"], report["model"], report["language"]) == ("extractive", None, "other")
    assert "récolte" in " ".join(s["text"] for s in report["sentences"]) or "céréales" in " ".join(
        s["text"] for s in report["sentences"])
    forced = summarize_cli(path, "--method", "learned")
    assert forced.returncode != 0
    assert forced.stderr.decode().strip().splitlines() == [
        "error: no sentence scorer ships for documents in this language (only for en); pass "
        "--model M trained with --task extract, or use --method extractive"]
