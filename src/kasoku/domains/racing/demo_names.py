"""Invented names that read like Japanese racing: katakana horse names from an owner's crown
prefix (冠名) and one or two words, kanji jockey and trainer names, owners, breeders and silks.
Everything is drawn from a passed-in ``random.Random``; no real record is copied (a random
pairing can, by chance, equal a real person's name, as any plausible name can)."""

from __future__ import annotations

import random
from dataclasses import dataclass

_CROWNS = ("サトノ", "キタサン", "メイショウ", "エイシン", "マイネル", "コスモ", "ダノン", "アドマイヤ", "トーセン",
           "ゴールド", "シゲル", "ナムラ", "タガノ", "ウイン", "スマート", "ヒシ", "テイエム", "ミッキー", "レッド",
           "サンライズ", "ロード", "グラン", "ジャスティン", "ワンダー")
_WORDS = ("ブレイブ", "クラウン", "スター", "フラッシュ", "ハート", "アロー", "ウィング", "ストーム", "ライト",
          "ブリーズ", "ノヴァ", "レガシー", "グローリー", "サンダー", "ミラクル", "ドリーム", "ルージュ", "エール",
          "カグラ", "ムサシ", "ヤマト", "オーロラ", "セレナーデ", "ソナタ", "ファルコン", "ジーニアス", "リバティ",
          "ヴェール", "シエル", "ルミエール", "ブライト", "ダイヤ", "ルビー", "アトラス", "ペガサス", "ノーブル",
          "ソレイユ", "ミノル", "ハヤテ", "イナズマ", "ツバサ", "サクラ", "ユメ", "ヒカリ", "フブキ", "アスカ")
_FAMILY = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "松本",
           "井上", "木村", "斎藤", "清水", "森", "池田", "橋本", "石川", "前田", "藤原", "岡田", "長谷川", "村上",
           "近藤", "坂本", "遠藤", "青木", "西村", "福田", "太田", "三浦", "藤井", "岡本", "松田", "中川", "原田")
_GIVEN = ("翔太", "大輔", "拓也", "健一", "直人", "雄一", "和也", "亮", "誠", "勇気", "圭太", "裕樹", "隼人", "光",
          "聡", "豊和", "将", "淳", "悠真", "蓮", "大和", "陽介", "浩二", "昌弘", "英明", "康弘", "正人", "智之")
_OWNER_SUFFIX = ("ホールディングス", "ファーム", "レーシング", "ステーブル", "サラブレッドクラブ")
_BREEDERS = ("ノーザンファーム", "社台ファーム", "白老ファーム", "千代田牧場", "下河辺牧場", "岡田スタッド",
             "ダーレー・ジャパン・ファーム", "追分ファーム", "ビッグレッドファーム", "坂東牧場")
_BIRTHPLACES = ("安平町", "千歳市", "白老町", "新ひだか町", "日高町", "新冠町", "浦河町", "様似町", "むかわ町")
_COLOURS = ("赤", "青", "黄", "緑", "紫", "白", "黒", "桃", "水色", "茶")
_PATTERNS = ("一本輪", "二本輪", "縦縞", "山形一本輪", "襷", "元禄", "袖輪", "菱山形", "星散", "蛇目")


@dataclass(frozen=True)
class Person:
    """A jockey or trainer: code, full name (family U+3000 given, as KS/CH hold it), short name."""

    code: str
    family: str
    given: str

    @property
    def name(self) -> str:
        return f"{self.family}\u3000{self.given}"

    @property
    def short(self) -> str:
        """騎手名略称 / 調教師名略称: at most 4 characters (8 bytes)."""
        return (self.family + self.given)[:4]


def horse_name(rng: random.Random, taken: set[str]) -> str:
    """A crown prefix and a word (or two words), at most 9 katakana as JRA allows; unique."""
    while True:
        if rng.random() < 0.7:
            name = rng.choice(_CROWNS) + rng.choice(_WORDS)
        else:
            name = rng.choice(_WORDS) + rng.choice(_WORDS)
        if len(name) <= 9 and name not in taken and len(set(name)) > 2:
            taken.add(name)
            return name


def people(rng: random.Random, count: int, first_code: int) -> list[Person]:
    """``count`` people with distinct names and 5-digit codes from ``first_code``."""
    seen: set[tuple[str, str]] = set()
    out: list[Person] = []
    while len(out) < count:
        pair = (rng.choice(_FAMILY), rng.choice(_GIVEN))
        if pair not in seen:
            seen.add(pair)
            out.append(Person(f"{first_code + len(out):05d}", *pair))
    return out


def owner(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.choice(_FAMILY)}\u3000{rng.choice(_GIVEN)}"
    return rng.choice(_CROWNS).rstrip("ノ") + rng.choice(_OWNER_SUFFIX)


def breeder(rng: random.Random) -> tuple[str, str]:
    """(breeder name, birthplace)."""
    return rng.choice(_BREEDERS), rng.choice(_BIRTHPLACES)


def breeder_code(name: str) -> str:
    """生産者コード (8 digits) of one of the invented breeders: the same breeder, the same code."""
    return f"8{_BREEDERS.index(name) + 1:04d}000"


def silks(rng: random.Random) -> str:
    """服色標示 like '白，鼠元禄，袖鼠縦縞'."""
    body, mark, sleeve = rng.sample(_COLOURS, 3)
    return f"{body}，{mark}{rng.choice(_PATTERNS)}，{sleeve}袖"
