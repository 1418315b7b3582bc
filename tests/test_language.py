"""Documents in languages other than English and Chinese: detection, their own words as terms,
Korean spacing and word counts, ROUGE tokens, and the model-free method chosen for them."""

import json
import lzma
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
from reformer_cli.text.sentences import split_sentences
from reformer_cli.text.words import count_words

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(PYTHON) if PYTHON.exists() else sys.executable
DEV = ROOT.parent / "shared" / "data" / "summarization"
TRAIN_RFC = "rfc_abstract.train.jsonl.xz"  # 3,095 RFCs, all English

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
# Latin-script languages that the first seven profiles read as English (the profiles after
# Russian in FUNCTION_WORDS): each paragraph but Catalan's and Vietnamese's was "en" before
# them. Catalan was already caught by the Spanish and French profiles, Vietnamese by its
# diacritics (most of its words are not ASCII).
PROFILED_LATER = {
    "ca": "La biblioteca de la ciutat és a l'edifici antic de la plaça major. Cada dia hi van molts "
          "estudiants que es preparen per als exàmens. A l'hivern la sala de lectura és càlida i "
          "tranquil·la, i per això molta gent s'hi queda fins al vespre. Quan plou, la biblioteca és plena "
          "perquè la gent no vol quedar-se a casa.",
    "cs": "To je náš nový projekt a máme z něj velkou radost. Program si můžete stáhnout z webu nebo "
          "nainstalovat přes pip. Pokud něco nefunguje, napište nám prosím, co se stalo. Dokumentace je k "
          "dispozici také v angličtině.",
    "da": "Vi har besluttet at flytte kontoret til Aarhus i foråret. Medarbejderne får tilbud om hjælp til "
          "at finde bolig, og vi betaler for flytningen. Hvis du har spørgsmål, kan du skrive til "
          "personaleafdelingen. Vi glæder os til at byde alle velkommen på det nye sted.",
    "fi": "Kaupungin kirjasto on vanhassa rakennuksessa torin laidalla. Joka päivä sinne tulee "
          "opiskelijoita, jotka valmistautuvat tentteihin. Talvella lukusali on lämmin ja hiljainen, joten "
          "moni jää sinne iltaan asti. Kun sataa, kirjasto on täynnä, koska ihmiset eivät halua istua "
          "kotona.",
    "hr": "To je naš novi projekt i jako smo zadovoljni. Program možete preuzeti sa stranice ili instalirati "
          "preko pip. Ako nešto ne radi, javite nam što se dogodilo. Dokumentacija je dostupna na engleskom "
          "i hrvatskom.",
    "hu": "Ez a mi új programunk, és nagyon örülünk neki. A forráskód a GitHub oldalon van, a csomag pedig "
          "pip install paranccsal telepíthető. Ha valami nem működik, kérjük, írjon nekünk egy levelet. A "
          "dokumentáció angolul és magyarul is elérhető.",
    "id": "Ini adalah proyek baru kami dan kami sangat senang dengannya. Program dapat diunduh dari situs "
          "web atau dipasang melalui pip. Jika ada masalah, silakan kirim laporan kepada kami. Dokumentasi "
          "tersedia dalam bahasa Inggris dan bahasa Indonesia.",
    "lt": "Biblioteka yra senajame pastate prie pagrindinės aikštės. Kiekvieną dieną čia ateina studentai, "
          "kurie ruošiasi egzaminams. Žiemą skaitykloje šilta ir tylu, todėl daug žmonių lieka iki vakaro. "
          "Kai lyja, biblioteka būna pilna, nes žmonės nenori sėdėti namie.",
    "lv": "Šis ir mūsu jaunais projekts, kuru veidojām visu gadu. Programmu var lejupielādēt no mājaslapas "
          "vai instalēt ar pip. Ja kaut kas nedarbojas, lūdzu, uzrakstiet mums. Dokumentācija ir pieejama "
          "angļu valodā.",
    "no": "Vi har bestemt oss for å flytte kontoret til Bergen i vår. Alle ansatte får tilbud om hjelp til å "
          "finne bolig, og vi betaler for flyttingen. Hvis du har spørsmål, kan du skrive til "
          "personalavdelingen. Vi gleder oss til å ønske alle velkommen på det nye stedet.",
    "pl": "To jest nasz nowy projekt i bardzo się z niego cieszymy. Program można pobrać ze strony "
          "internetowej albo zainstalować przez pip. Jeżeli coś nie działa, to prosimy o zgłoszenie błędu. "
          "Dokumentacja jest dostępna po angielsku i po polsku.",
    "ro": "Acesta este noul nostru proiect și suntem foarte mulțumiți. Programul poate fi descărcat din "
          "pagina web sau instalat cu pip. Dacă ceva nu funcționează, vă rugăm să ne scrieți. Documentația "
          "este disponibilă în engleză și în română.",
    "sk": "To je náš nový projekt a máme z neho veľkú radosť. Program si môžete stiahnuť z webu alebo "
          "nainštalovať cez pip. Ak niečo nefunguje, napíšte nám, čo sa stalo. Dokumentácia je k dispozícii "
          "v angličtine aj v slovenčine.",
    "sv": "Biblioteket i vår stad ligger nära torget och är öppet varje dag. Många studenter kommer dit för "
          "att läsa inför sina tentor, och på vintern är det varmt och tyst i läsesalen. Det finns också ett "
          "litet kafé där man kan köpa kaffe. Efter klockan sex blir det lugnare, men några stannar ända "
          "tills biblioteket stänger.",
    "tr": "Bu bizim yeni projemiz ve onu çok seviyoruz. Programı web sitesinden indirebilir veya pip ile "
          "kurabilirsiniz. Bir sorun olursa lütfen bize yazın. Belgeler şimdilik sadece İngilizce olarak "
          "hazır.",
    "vi": "Thư viện thành phố nằm trong một tòa nhà cũ gần quảng trường chính. Mỗi ngày có nhiều sinh viên "
          "đến đây để ôn thi. Vào mùa đông, phòng đọc ấm áp và yên tĩnh, nên nhiều người ở lại đến tối. Khi "
          "trời mưa, thư viện rất đông vì mọi người không muốn ở nhà.",
}
# English with names, abbreviations and code: the words the new profiles leave out.
SHORT_ENGLISH = [
    "Ron Etter and Olen Stokes reviewed the draft.",
    "Run `pytest -q` in the repo; see tox.ini and setup.cfg for the settings.",
    "The BU is sent to the HA by the MN when its CoA changes.",
    "Call len(x) and sig = inspect.signature(f) before you pass it on.",
    "The YANG module defines the ITU-T alarm types for PE and CE routers.",
    "Hans and Jens met Ali in Oslo; Sam, Dan and Theo joined them later.",
    "I've been told we'd better wait until they've finished.",
    "for i in range(len(items)):\n    print(items[i])",
    "SA and SPI values: the IKE SA carries KE, NA, ER and IR payloads.",
    "Set ja, ei, ka, az and ki to zero.",
    "Olá, Ana! Jürgen, Søren, Łukasz and Nguyễn Văn An are on the team this year.",
    "This PR fixes the ATT bug in vid_sig.c and adds a GAN demo.",
]


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_languages_other_than_english_are_told_apart(code):
    assert guess_language(SAMPLES[code]) == "other"


def test_english_chinese_and_japanese_are_recognised():
    assert guess_language(JAPANESE) == "ja"
    assert guess_language(CHINESE) == "zh"
    assert guess_language("Hello world.") == "en"  # no function word of any language
    # A Latin-script language without a profile is summarized as English (module docstring).
    assert guess_language("Leo asubuhi treni ya Mombasa ilichelewa kwa saa moja.") == "en"  # Swahili
    assert guess_language("Dzisiaj rano pociąg do Krakowa był spóźniony o godzinę.") == "other"


@pytest.mark.parametrize("code", sorted(PROFILED_LATER))
def test_latin_script_languages_profiled_later_are_not_read_as_english(code):
    # Read as English they would get English stemming and stopwords and the English scorer.
    assert guess_language(PROFILED_LATER[code]) == "other"


def test_english_stays_english_beside_the_profiles():
    # English read as "other" is the costly mistake: it loses the shipped scorer.
    for text in SHORT_ENGLISH:
        assert guess_language(text) == "en", text
    for key in sorted(topics):
        assert guess_language(topics[key]) == "en", key
    assert guess_language((ROOT / "README.md").read_text(encoding="utf-8")) == "en"


@pytest.mark.skipif(not DEV.is_dir(), reason=f"dev data not found at {DEV} (../shared/data absent)")
def test_every_dev_document_keeps_its_language():
    for path in sorted(DEV.glob("*.dev.jsonl")):
        for line in path.open(encoding="utf-8"):
            row = json.loads(line)
            assert guess_language(row["document"]) == row.get("lang", "en"), (path.name, row["id"])


@pytest.mark.skipif(not (DEV / TRAIN_RFC).is_file(), reason=f"{TRAIN_RFC} not found in {DEV} "
                    "(../shared/data absent)")
def test_every_english_training_document_stays_english():
    with lzma.open(DEV / TRAIN_RFC, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            assert guess_language(row["document"]) == "en", row.get("id")


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
        f"error: {path}: no sentence scorer ships for documents in this language (only for en); pass "
        "--model M trained with --task extract, or use --method extractive"]
