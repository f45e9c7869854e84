"""Synthetic house-price competitions in Kaggle's exact layouts (columns, id styles, missing values).

The real data cannot be downloaded here, so prices come from a known formula with realistic
ingredients: quality and area effects, a neighbourhood (or zip code) effect, missing values, rare
and test-only categories, multi-valued and mixed-type columns, and a later test period.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

AMES_COLUMNS = (
    "MSSubClass MSZoning LotFrontage LotArea Street Alley LotShape LandContour Utilities LotConfig LandSlope "
    "Neighborhood Condition1 Condition2 BldgType HouseStyle OverallQual OverallCond YearBuilt YearRemodAdd "
    "RoofStyle RoofMatl Exterior1st Exterior2nd MasVnrType MasVnrArea ExterQual ExterCond Foundation BsmtQual "
    "BsmtCond BsmtExposure BsmtFinType1 BsmtFinSF1 BsmtFinType2 BsmtFinSF2 BsmtUnfSF TotalBsmtSF Heating "
    "HeatingQC CentralAir Electrical 1stFlrSF 2ndFlrSF LowQualFinSF GrLivArea BsmtFullBath BsmtHalfBath FullBath "
    "HalfBath BedroomAbvGr KitchenAbvGr KitchenQual TotRmsAbvGrd Functional Fireplaces FireplaceQu GarageType "
    "GarageYrBlt GarageFinish GarageCars GarageArea GarageQual GarageCond PavedDrive WoodDeckSF OpenPorchSF "
    "EnclosedPorch 3SsnPorch ScreenPorch PoolArea PoolQC Fence MiscFeature MiscVal MoSold YrSold SaleType "
    "SaleCondition"
).split()
assert len(AMES_COLUMNS) == 79

QUALITY = ["Po", "Fa", "TA", "Gd", "Ex"]
NEIGHBORHOODS = [
    "NAmes", "CollgCr", "OldTown", "Edwards", "Somerst", "Gilbert", "NridgHt", "Sawyer", "NWAmes", "SawyerW",
    "BrkSide", "Crawfor", "Mitchel", "NoRidge", "Timber", "IDOTRR", "ClearCr", "StoneBr", "SWISU", "Blmngtn",
    "MeadowV", "BrDale", "Veenker", "NPkVill", "Blueste",
]  # fmt: skip
AMES_CATEGORIES = {
    "MSZoning": ["RL", "RM", "FV", "RH", "C (all)"],
    "Street": ["Pave", "Grvl"],
    "Alley": ["NA", "Grvl", "Pave"],
    "LotShape": ["Reg", "IR1", "IR2", "IR3"],
    "LandContour": ["Lvl", "Bnk", "HLS", "Low"],
    "Utilities": ["AllPub"],
    "LotConfig": ["Inside", "Corner", "CulDSac", "FR2", "FR3"],
    "LandSlope": ["Gtl", "Mod", "Sev"],
    "Condition1": ["Norm", "Feedr", "Artery", "RRAn", "PosN"],
    "Condition2": ["Norm", "Feedr", "Artery"],
    "BldgType": ["1Fam", "TwnhsE", "Duplex", "Twnhs", "2fmCon"],
    "HouseStyle": ["1Story", "2Story", "1.5Fin", "SLvl", "SFoyer"],
    "RoofStyle": ["Gable", "Hip", "Flat", "Gambrel"],
    "RoofMatl": ["CompShg", "Tar&Grv", "WdShngl"],
    "Exterior1st": ["VinylSd", "HdBoard", "MetalSd", "Wd Sdng", "Plywood", "CemntBd", "BrkFace"],
    "Exterior2nd": ["VinylSd", "HdBoard", "MetalSd", "Wd Sdng", "Plywood", "CmentBd", "Wd Shng"],
    "MasVnrType": ["None", "BrkFace", "Stone", "BrkCmn"],
    "ExterCond": QUALITY,
    "Foundation": ["PConc", "CBlock", "BrkTil", "Slab", "Stone"],
    "BsmtCond": ["TA", "Gd", "Fa", "NA"],
    "BsmtExposure": ["No", "Av", "Gd", "Mn", "NA"],
    "BsmtFinType1": ["Unf", "GLQ", "ALQ", "BLQ", "Rec", "LwQ", "NA"],
    "BsmtFinType2": ["Unf", "Rec", "LwQ", "NA"],
    "Heating": ["GasA", "GasW", "Grav"],
    "HeatingQC": QUALITY,
    "CentralAir": ["Y", "N"],
    "Electrical": ["SBrkr", "FuseA", "FuseF"],
    "Functional": ["Typ", "Min1", "Min2", "Mod"],
    "FireplaceQu": ["NA", "Gd", "TA", "Fa", "Ex", "Po"],
    "GarageType": ["Attchd", "Detchd", "BuiltIn", "NA", "Basment"],
    "GarageFinish": ["Unf", "RFn", "Fin", "NA"],
    "GarageQual": ["TA", "Fa", "Gd", "NA"],
    "GarageCond": ["TA", "Fa", "Gd", "NA"],
    "PavedDrive": ["Y", "N", "P"],
    "PoolQC": ["NA", "Gd", "Ex"],
    "Fence": ["NA", "MnPrv", "GdWo", "GdPrv"],
    "MiscFeature": ["NA", "Shed", "Gar2"],
    "SaleType": ["WD", "New", "COD", "ConLD"],
    "SaleCondition": ["Normal", "Partial", "Abnorml", "Family"],
}
SKEWED = np.array([0.75, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01])  # the first category dominates, like the real data


def _pick(rng, values, n):
    p = SKEWED[: len(values)] / SKEWED[: len(values)].sum()
    return np.asarray(values, dtype=object)[rng.choice(len(values), n, p=p)]


def ames_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    qual = np.clip(np.round(rng.normal(6.1, 1.4, n)), 1, 10).astype(int)
    area = np.round(np.exp(rng.normal(np.log(1450) + 0.06 * (qual - 6), 0.3, n))).astype(int)
    year = np.clip(np.round(rng.normal(1972 + 4 * (qual - 6), 25, n)), 1872, 2010).astype(int)
    hood_effect = dict(zip(NEIGHBORHOODS, np.linspace(-0.25, 0.3, len(NEIGHBORHOODS)), strict=True))
    hood = np.asarray(NEIGHBORHOODS, dtype=object)[rng.integers(0, len(NEIGHBORHOODS), n)]
    garage_cars = rng.choice([0, 1, 2, 3], n, p=[0.06, 0.25, 0.56, 0.13])
    bsmt = np.round(area * rng.uniform(0.4, 1.1, n)).astype(int)
    frame = {}
    for column in AMES_COLUMNS:
        if column in AMES_CATEGORIES:
            frame[column] = _pick(rng, AMES_CATEGORIES[column], n)
    frame.update(
        MSSubClass=rng.choice([20, 60, 50, 120, 30, 160, 70, 80, 90, 190], n),
        LotFrontage=np.where(rng.random(n) < 0.18, np.nan, np.round(rng.normal(70, 22, n).clip(21, 313))),
        LotArea=np.round(np.exp(rng.normal(9.1, 0.5, n))).astype(int),
        Neighborhood=hood,
        OverallQual=qual,
        OverallCond=np.clip(np.round(rng.normal(5.6, 1.1, n)), 1, 9).astype(int),
        YearBuilt=year,
        YearRemodAdd=np.maximum(year, rng.integers(1950, 2011, n)),
        MasVnrArea=np.where(rng.random(n) < 0.01, np.nan, np.round(rng.exponential(100, n))),
        ExterQual=np.asarray(QUALITY, dtype=object)[np.clip((qual + 1) // 2 - 1, 0, 4)],
        BsmtQual=np.where(rng.random(n) < 0.03, "NA", np.asarray(QUALITY, dtype=object)[np.clip(qual // 2, 0, 4)]),
        BsmtFinSF1=np.round(bsmt * rng.uniform(0, 0.8, n)).astype(int),
        BsmtFinSF2=np.where(rng.random(n) < 0.88, 0, rng.integers(30, 800, n)),
        BsmtUnfSF=np.round(bsmt * rng.uniform(0, 0.5, n)).astype(int),
        TotalBsmtSF=bsmt,
        **{"1stFlrSF": np.round(area * rng.uniform(0.55, 1.0, n)).astype(int)},
        LowQualFinSF=np.where(rng.random(n) < 0.98, 0, rng.integers(50, 500, n)),
        GrLivArea=area,
        BsmtFullBath=rng.choice([0, 1, 2], n, p=[0.58, 0.41, 0.01]),
        BsmtHalfBath=rng.choice([0, 1], n, p=[0.94, 0.06]),
        FullBath=np.clip(np.round(area / 900), 1, 3).astype(int),
        HalfBath=rng.choice([0, 1], n, p=[0.62, 0.38]),
        BedroomAbvGr=np.clip(np.round(area / 500 + rng.normal(0, 0.6, n)), 1, 6).astype(int),
        KitchenAbvGr=rng.choice([1, 2], n, p=[0.95, 0.05]),
        KitchenQual=np.asarray(QUALITY, dtype=object)[np.clip((qual + rng.integers(-1, 2, n)) // 2, 1, 4)],
        TotRmsAbvGrd=np.clip(np.round(area / 240), 3, 14).astype(int),
        Fireplaces=rng.choice([0, 1, 2], n, p=[0.47, 0.45, 0.08]),
        GarageYrBlt=np.where(garage_cars == 0, np.nan, year),
        GarageCars=garage_cars,
        GarageArea=np.round(garage_cars * rng.normal(240, 30, n)).astype(int),
        WoodDeckSF=np.where(rng.random(n) < 0.5, 0, rng.integers(40, 500, n)),
        OpenPorchSF=np.where(rng.random(n) < 0.45, 0, rng.integers(10, 300, n)),
        EnclosedPorch=np.where(rng.random(n) < 0.86, 0, rng.integers(20, 300, n)),
        **{"3SsnPorch": np.where(rng.random(n) < 0.98, 0, rng.integers(100, 400, n))},
        ScreenPorch=np.where(rng.random(n) < 0.92, 0, rng.integers(50, 400, n)),
        PoolArea=np.where(rng.random(n) < 0.995, 0, rng.integers(400, 700, n)),
        MiscVal=np.where(rng.random(n) < 0.96, 0, rng.integers(100, 3000, n)),
        MoSold=rng.integers(1, 13, n),
        YrSold=rng.integers(2006, 2011, n),
    )
    frame["2ndFlrSF"] = frame["GrLivArea"] - frame["1stFlrSF"]
    log_price = (
        12.0
        + 0.11 * (qual - 6)
        + 0.55 * np.log(area / 1450)
        + np.vectorize(hood_effect.get)(hood)
        + 0.0025 * (year - 1972)
        + 0.04 * garage_cars
        + 0.06 * (frame["CentralAir"] == "Y")
        + 0.03 * frame["Fireplaces"]
        + 0.08 * np.log(frame["LotArea"] / 9000)
        - 0.15 * (frame["SaleCondition"] == "Abnorml")
        + 0.04 * np.maximum(qual - 7, 0) ** 2  # the luxury end rises faster
        + rng.normal(0, 0.07, n)
    )
    out = pd.DataFrame({c: frame[c] for c in AMES_COLUMNS})
    out["SalePrice"] = np.round(np.exp(log_price)).astype(int)
    return out


def _write(data: Path, train: pd.DataFrame, test: pd.DataFrame, target: str, fill: float, answers: Path | None = None) -> Path:
    """The competition folder; with ``answers``, also the test rows' true targets (Id, target) in that
    file (outside the folder: Kaggle never ships them), for a benchmark that scores held-out rows."""
    data.mkdir(parents=True, exist_ok=True)
    if answers is not None:
        test[["Id", target]].to_csv(answers, index=False)
    # Ames writes every missing value as "NA"; california leaves the cell empty.
    na_rep = "NA" if target == "SalePrice" else ""
    train.to_csv(data / "train.csv", index=False, na_rep=na_rep)
    test.drop(columns=[target]).to_csv(data / "test.csv", index=False, na_rep=na_rep)
    pd.DataFrame({"Id": test["Id"], target: fill}).to_csv(data / "sample_submission.csv", index=False)
    return data


def make_ames(root: Path, n_train: int = 1460, n_test: int = 1459, seed: int = 0, answers: Path | None = None) -> Path:
    """``root/house-prices-advanced-regression-techniques``: Id 1..n_train, then the test ids."""
    frame = ames_frame(n_train + n_test, seed)
    # A neighbourhood seen only in the test set, like the real data's rare levels.
    frame.loc[frame.index[-3:], "Neighborhood"] = "Greens"
    frame.insert(0, "Id", np.arange(1, len(frame) + 1))
    if n_train >= 1300:  # the real data's two partial sales of huge new houses (Id 524 and 1299), far below their size's price
        for row, area, price in ((523, 4676, 184750), (1298, 5642, 160000)):
            frame.loc[row, ["GrLivArea", "1stFlrSF", "2ndFlrSF", "TotalBsmtSF", "OverallQual", "SaleCondition", "SalePrice"]] = [
                area, area // 2, area - area // 2, area // 2 + 500, 10, "Partial", price]  # fmt: skip
    train, test = frame.iloc[:n_train], frame.iloc[n_train:]
    return _write(Path(root) / "house-prices-advanced-regression-techniques", train, test, "SalePrice", 180921.2, answers)


CITIES = {  # city -> (zip codes, log price level)
    "Los Angeles": ([90001, 90011, 90026, 90034, 90045, 90066], 13.5),
    "San Jose": ([95112, 95123, 95125, 95136], 13.8),
    "Palo Alto": ([94301, 94303, 94306], 14.6),
    "Fresno": ([93702, 93710, 93722], 12.6),
    "Sacramento": ([95814, 95818, 95822, 95831], 12.9),
    "San Francisco": ([94110, 94112, 94114, 94122], 14.2),
    "Oakland": ([94601, 94606, 94610, 94611], 13.6),
    "San Diego": ([92101, 92104, 92109, 92117], 13.6),
}
TYPES = ["SingleFamily", "Condo", "Townhouse", "MultiFamily", "VacantLand", "MobileManufactured"]
ITEMS = {
    "Flooring": ["Tile", "Carpet", "Hardwood", "Laminate", "Vinyl", "Wood"],
    "Heating features": ["Central", "Forced air", "Gas", "Electric", "Fireplace(s)", "Wall"],
    "Cooling features": ["Central Air", "Ceiling Fan(s)", "Wall/Window Unit(s)", "None"],
    "Appliances included": ["Dishwasher", "Range / Oven", "Refrigerator", "Microwave", "Garbage disposal", "Dryer"],
    "Laundry features": ["Inside", "In Garage", "Washer/Dryer", "Gas & Electric Dryer Hookup", "Upper Level"],
    "Parking features": ["Garage", "Garage - Attached", "Covered", "Driveway", "On Street", "Carport"],
}
STREETS = ["Oak", "Maple", "Cedar", "Pine", "Elm", "Main", "Park", "Lake", "Hill", "Sunset", "Washington", "Lincoln"]
WORDS = "spacious bright updated kitchen quiet street close to schools remodeled bath yard views pool".split()


def _item_lists(rng, items: list[str], n: int) -> np.ndarray:
    out = []
    for _ in range(n):
        if rng.random() < 0.15:
            out.append(None)
            continue
        k = rng.integers(1, min(4, len(items)) + 1)
        out.append(", ".join(rng.choice(items, k, replace=False)))
    return np.asarray(out, dtype=object)


def california_frame(n: int, seed: int, first_day: str = "2020-01-01", days: int = 365) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city_names = list(CITIES)
    city = np.asarray(city_names, dtype=object)[rng.integers(0, len(city_names), n)]
    zips = np.array([rng.choice(CITIES[c][0]) for c in city])
    # A zip code's price effect is a property of the place: the same in the training and the test period.
    every_zip = sorted(z for codes, _ in CITIES.values() for z in codes)
    zip_effect = dict(zip(every_zip, np.random.default_rng(2020).normal(0, 0.2, len(every_zip)), strict=True))
    area = np.round(np.exp(rng.normal(7.4, 0.4, n))).astype(int)
    beds = np.clip(np.round(area / 550 + rng.normal(0, 0.7, n)), 1, 7).astype(int)
    home_type = np.asarray(TYPES, dtype=object)[rng.choice(len(TYPES), n, p=[0.6, 0.18, 0.1, 0.06, 0.03, 0.03])]
    year = np.clip(np.round(rng.normal(1975, 25, n)), 1900, 2021).astype(int)
    listed = pd.Timestamp(first_day) + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    trend = (listed - pd.Timestamp("2020-01-01")).days.to_numpy() / 365 * 0.08  # prices rise over time
    log_price = (
        np.array([CITIES[c][1] for c in city])
        + np.vectorize(zip_effect.get)(zips)
        + 0.7 * np.log(area / 1600)
        + 0.03 * (beds - 3)
        - 0.25 * (home_type == "Condo")
        - 0.6 * (home_type == "MobileManufactured")
        + 0.001 * (year - 1975)
        + trend
        + rng.normal(0, 0.12, n)
    )
    price = np.exp(log_price)
    assessed = np.round(price * rng.uniform(0.3, 0.9, n))  # assessed at the last sale, years ago
    # Bedrooms holds numbers and, now and then, a list of rooms.
    bedrooms = beds.astype(str).astype(object)
    wordy = rng.random(n) < 0.08
    bedrooms[wordy] = rng.choice(["Walk-in Closets, Dining Room", "Office, Den", "Mud/Utility Room"], wordy.sum())
    last_sold = np.where(
        rng.random(n) < 0.4, None, (listed - pd.to_timedelta(rng.integers(400, 7000, n), unit="D")).strftime("%Y-%m-%d")
    )
    schools = {
        f"{level} School": np.asarray([f"{rng.choice(STREETS)} {level}" for _ in range(30)], dtype=object)[
            rng.integers(0, 30, n)
        ]
        for level in ("Elementary", "Middle", "High")
    }
    frame = pd.DataFrame(
        {
            "Address": [
                f"{rng.integers(1, 9999)} {rng.choice(STREETS)} {rng.choice(['St', 'Ave', 'Dr', 'Ct'])}"
                for _ in range(n)
            ],
            "Sold Price": np.round(price, -2),
            "Summary": [" ".join(rng.choice(WORDS, rng.integers(5, 20))).capitalize() + "." for _ in range(n)],
            "Type": home_type,
            "Year built": np.where(rng.random(n) < 0.03, np.nan, year),
            "Heating": _item_lists(rng, ITEMS["Heating features"], n),
            "Cooling": np.where(rng.random(n) < 0.5, "Central", None),
            "Parking": _item_lists(rng, ITEMS["Parking features"], n),
            "Lot": np.where(rng.random(n) < 0.3, np.nan, np.round(np.exp(rng.normal(8.7, 0.8, n)))),
            "Bedrooms": np.where(rng.random(n) < 0.05, None, bedrooms),
            "Bathrooms": np.clip(np.round(beds * 0.8 + rng.normal(0, 0.5, n)), 1, 6),
            "Full bathrooms": np.clip(np.round(beds * 0.6), 1, 5),
            "Total interior livable area": np.where(rng.random(n) < 0.04, np.nan, area),
            "Total spaces": rng.choice([0, 1, 2, 3], n),
            "Garage spaces": rng.choice([0, 1, 2], n),
            "Region": city,
            "Elementary School": schools["Elementary School"],
            "Elementary School Score": rng.integers(1, 11, n),
            "Elementary School Distance": np.round(rng.exponential(0.6, n), 1),
            "Middle School": schools["Middle School"],
            "Middle School Score": rng.integers(1, 11, n),
            "Middle School Distance": np.round(rng.exponential(1.2, n), 1),
            "High School": schools["High School"],
            "High School Score": np.where(rng.random(n) < 0.1, np.nan, rng.integers(1, 11, n)),
            "High School Distance": np.round(rng.exponential(1.8, n), 1),
            "Flooring": _item_lists(rng, ITEMS["Flooring"], n),
            "Heating features": _item_lists(rng, ITEMS["Heating features"], n),
            "Cooling features": _item_lists(rng, ITEMS["Cooling features"], n),
            "Appliances included": _item_lists(rng, ITEMS["Appliances included"], n),
            "Laundry features": _item_lists(rng, ITEMS["Laundry features"], n),
            "Parking features": _item_lists(rng, ITEMS["Parking features"], n),
            "Tax assessed value": np.where(rng.random(n) < 0.1, np.nan, assessed),
            "Annual tax amount": np.where(
                rng.random(n) < 0.1, np.nan, np.round(assessed * 0.0115 * np.exp(rng.normal(0, 0.05, n)), 2)
            ),
            "Listed On": listed.strftime("%Y-%m-%d"),
            "Listed Price": np.round(price * np.exp(rng.normal(0, 0.08, n)), -2),
            "Last Sold On": last_sold,
            "Last Sold Price": np.where(last_sold == None, np.nan, np.round(price * rng.uniform(0.4, 0.9, n), -2)),  # noqa: E711
            "City": city,
            "Zip": zips,
            "State": "CA",
        }
    )
    return frame


def make_california(root: Path, n_train: int = 4000, n_test: int = 2000, seed: int = 0, answers: Path | None = None) -> Path:
    """``root/california-house-prices``; the test period follows the training period."""
    train = california_frame(n_train, seed, "2020-01-01", 365)
    test = california_frame(n_test, seed + 1, "2021-01-01", 90)
    test.loc[test.index[-2:], "City"] = "Carmel-by-the-Sea"  # a city never seen in training
    train.insert(0, "Id", np.arange(n_train))
    test.insert(0, "Id", np.arange(n_train, n_train + n_test))
    return _write(Path(root) / "california-house-prices", train, test, "Sold Price", 1000000.0, answers)
