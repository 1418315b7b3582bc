"""Which language a document is written in, as far as summarizing needs to know.

"en": English, the language the shipped scorer, keyword weights and phrase prior were trained
on. "zh": Chinese; "ja": Japanese (Han characters with kana). "other": anything else: French,
Russian, Korean... These get the model-free method with terms that are the text's own words,
neither stemmed nor filtered with English stopwords.

English is told from other alphabetic languages by function words, the way the simplest
language identifiers do it: how many of the text's words are the commonest words of English
against the same count for each other profile: French, German, Spanish, Italian, Portuguese,
Dutch, Russian, Swedish, Danish, Norwegian, Polish, Czech, Slovak, Croatian, Lithuanian,
Latvian, Turkish, Indonesian/Malay, Romanian, Hungarian, Finnish, Catalan and Vietnamese. An
English document made mostly of tables still has more "the"/"of"/"and" than "de"/"la"/"und".
Text in another alphabet (Korean, Greek...) is "other" too. A Latin-script language without a
profile here (Swahili, say) is summarized as English, which costs it English stemming and
stopwords.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.words import CJK_RE

DOCUMENT_LANGUAGES = ("en", "zh", "ja", "other")
CHARACTER_LANGUAGES = ("zh", "ja")  # written without spaces: a character is a word
SAMPLE_CHARS = 20_000  # the opening read to decide; a language is a property of the whole text
CJK_SHARE = 0.3  # CJK characters at least this share of the letters: a CJK document
KANA_SHARE = 0.1  # kana at least this share of the CJK characters: Japanese
KANA_RE = re.compile("[\u3040-\u30ff]")
# Words of two letters or more with no digit or underscore joined on: "0x9bda" and "a" in a
# table of hex bytes or single-letter names say nothing about the language.
LETTER_WORD = re.compile(r"\b[^\W\d_]{2,}\b")
# The commonest words of two letters or more of each language, leaving out those that are
# common English words or parts of addresses ("as", "no", "is", "per", "com" in example.com).
# Since every profile but English answers "other", only English against the rest matters, and
# the costly mistake is English read as "other": the profiles added after Russian also leave out
# the ends of contractions ("ve" in "I've") and words that technical English writes as
# abbreviations or file names ("sa", "ce", "ir", "na", "itu", "yang", "len", "ini"), checked
# against the PEPs, RFCs, pydoc topics and novels in ../shared/data. Languages may share words.
FUNCTION_WORDS = {
    "en": "the of and to in is that for it with as was on be by this are or from at which an not",
    "fr": "le la les de des du et est une un que qui dans pour pas sur au aux ce il elle sont par",
    "de": "der die das und ist nicht ein eine zu den mit sich des auf für dem im von auch wird",
    "es": "el la los las de que en es una por con para del se al lo su como más pero",
    "it": "il la di che una non del della con sono gli le si nel alla anche più questo",
    "pt": "os de que em um uma para não da dos das na por mais foi ao pelo também",
    "nl": "de het een en van dat niet op te zijn voor met er aan ook als bij wordt",
    "ru": "не на что по это как он из но она то за от так же его для был все",
    "sv": "och att det som är på av för inte har ett jag hon så också eller efter när från över hade dessa "
          "blev kan skulle inom detta sina mycket något denna finns vara där även mellan alla hur",
    "da": "og det til på ikke som har jeg kan om fra hun eller efter også skal blev være når havde dette "
          "denne hvor vil deres meget kun mig hende noget nogle blive bliver været disse hvis hvad sådan "
          "selv kunne ville skulle mange",
    "no": "og det til på som av har ikke jeg om kan fra ble hun skal eller etter også når hadde dette denne "
          "hvor sine vil noe noen være blitt hvis hva mange alle kunne skulle ville selv bli blir",
    "pl": "się nie że jest jak tak od za przez dla są jego jej już tylko może być oraz który która które ich "
          "tym tego jako bardzo gdy przy czy było był także został jednak więc nawet gdzie kiedy ponieważ "
          "również między będzie można jeszcze tej tych",
    "cs": "je že jsem jako jak jsou tak od za které který která jeho při také již nebo ze bylo byl být mezi "
          "tento této však podle jsme byla jejich protože ještě když aby pouze tedy",
    "sk": "je že ako aj sú tak od za ktorý ktorá ktoré jeho tiež už alebo bolo bol byť medzi tento však "
          "podľa som sme aby keď ich ešte pretože teda bola boli",
    "hr": "je za od što kao iz će biti bio samo ili još koji koja koje nije ima već kako ovo ovaj može nakon "
          "prema između smo sve jer bila bili kada gdje svoje zbog tako sada oni ona",
    "lt": "yra kad iš kaip jis jų buvo taip dar nuo prie apie arba tik už kai kuris kuri kurie būti labai "
          "tačiau todėl savo iki jau bei dėl kas",
    "lv": "ka uz kas arī vai lai tā kā bija viņš viņa viņi tiek kur tikai jau savu šo starp pēc kad vēl tiem "
          "viņu mēs jūs tika būs nekā kuru kurš kura šī šis tās ļoti līdz taču",
    "tr": "bir için ile olarak çok daha gibi olan sonra kadar ama değil olduğu şey onun bunu diye veya göre "
          "tarafından yeni büyük ki çünkü şimdi ancak kendi zaman ayrıca üzerinde oldu olur bunun şu hiç "
          "önce onlar",
    "id": "dengan untuk tidak dari dalam akan pada juga karena oleh sudah saya kami kita mereka bisa telah "
          "atau tetapi seperti lebih harus bahwa adalah sebagai tersebut hanya belum sangat masih serta "
          "namun yaitu dapat antara setelah ketika banyak sendiri lagi baru semua agar saat kepada bagi "
          "tentang secara merupakan jika bahawa kerana boleh iaitu",
    "ro": "și în că nu este sunt pentru mai fost sau lui această acest să dar după prin foarte despre până "
          "fără acum încă acesta aceasta iar astfel însă deoarece fiind poate trebuie avea avut acestea unei "
          "unui unor celor lor dintre între către asupra",
    "hu": "az és hogy nem egy ez csak azt még ki fel vagy nagy kell után lesz sem minden amely amelyek "
          "között által szerint pedig mert lehet így akkor már nincs voltak vannak ezt ezek azok arra ahol "
          "aki mivel valamint illetve kellett nagyon egyik első ebben annak ennek",
    "fi": "ja ei että oli hän mutta kun niin myös ovat joka mitä kuin nyt jos sitä siitä tämä tässä hänen "
          "olla voi kanssa mukaan sekä jotka koska vielä olen olivat ollut sitten jotta vaan kaikki tämän "
          "niiden joiden mikä siis aivan hyvin paljon joten kuitenkin",
    "ca": "el la de que del una els les és amb més dels als seu seva també però aquest aquesta molt pel ser "
          "són quan entre sobre aquests aquestes perquè seus seves després encara doncs mateix altres hauria "
          "havia poden tenir quina qual",
    "vi": "của và là các những được trong cho không này một có với người đã để khi đến từ thì nhiều cũng như "
          "về sẽ còn nhưng vào nó tôi chúng đó",
}
_PROFILES = {language: frozenset(words.split()) for language, words in FUNCTION_WORDS.items()}


def is_cjk_text(text: str) -> bool:
    """True when CJK characters make up at least CJK_SHARE of the letters of the opening."""
    sample = text[:SAMPLE_CHARS]
    n_cjk = len(CJK_RE.findall(sample))
    n_letters = sum(1 for char in sample if char.isalpha())
    return n_cjk > 0 and n_cjk >= CJK_SHARE * n_letters


def guess_language(text: str) -> str:
    """"en", "zh", "ja" or "other" (see the module's docstring). Text with no function word of
    any profile ("Hello world.", a list of names) is English unless most of its words are in
    another alphabet."""
    sample = text[:SAMPLE_CHARS]
    if is_cjk_text(sample):
        n_cjk = len(CJK_RE.findall(sample))
        return "ja" if len(KANA_RE.findall(sample)) >= KANA_SHARE * n_cjk else "zh"
    words = LETTER_WORD.findall(sample.lower())
    if not words:
        return "en"
    hits = {language: sum(word in profile for word in words) for language, profile in _PROFILES.items()}
    english, best_other = hits.pop("en"), max(hits.values())
    if best_other > english or sum(not word.isascii() for word in words) * 2 > len(words):
        return "other"
    return "en"
