from fashion_pipeline.recs.reader import ServedItem, ServedRecommendations
from fashion_pipeline.recs.show import format_recommendations


def test_an_article_with_null_attributes_is_listed_with_blanks():
    served = ServedRecommendations("u1", [ServedItem("0108775015", 0.5, "als", "batch"),
                                          ServedItem("0999999001", 0.25, "trending", "batch")], "v1", "2020-09-22")
    names = {"0108775015": {"article_id": "0108775015", "prod_name": None, "product_type_name": "Vest top",
                            "colour_group_name": None}}
    lines = format_recommendations(served, names).splitlines()
    assert lines[3].split() == ["1", "0108775015", "Vest", "top", "als", "0.5000"]
    assert "(not in catalogue)" in lines[4]
