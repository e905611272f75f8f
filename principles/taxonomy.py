"""The starter taxonomy of the Weaver paper: 4 domains with starter subdomains, and 8 tasks.

Seeded by a data migration and by ``manage.py seed_taxonomy`` (idempotent: it adds what is
missing and leaves what admins changed alone).
"""

DOMAINS = [
    (
        "fiction",
        "Fiction",
        "小说",
        [
            ("novel", "Novel chapter", "长篇小说章节"),
            ("short_story", "Short story", "短篇小说"),
            ("fable", "Fable and fairy tale", "寓言与童话"),
            ("poetry", "Poetry", "诗歌"),
            ("script", "Script and screenplay", "剧本"),
            ("fan_fiction", "Fan fiction", "同人小说"),
        ],
    ),
    (
        "creative_nonfiction",
        "Creative non-fiction",
        "创意非虚构",
        [
            ("essay", "Essay", "散文随笔"),
            ("blog", "Blog post", "博客文章"),
            ("social_media", "Social-media post", "社交媒体帖子"),
            ("memoir", "Memoir", "回忆录"),
            ("travel", "Travel writing", "游记"),
            ("column", "Opinion column", "评论专栏"),
        ],
    ),
    (
        "marketing",
        "Marketing",
        "营销写作",
        [
            ("ad_copy", "Ad copy", "广告文案"),
            ("product_description", "Product description", "产品描述"),
            ("business_plan", "Business plan", "商业计划书"),
            ("brand_story", "Brand story", "品牌故事"),
            ("press_release", "Press release", "新闻稿"),
            ("marketing_email", "Marketing email", "营销邮件"),
        ],
    ),
    (
        "technical_writing",
        "Technical writing",
        "技术写作",
        [
            ("paper", "Research paper", "学术论文"),
            ("report", "Report", "报告"),
            ("contract", "Contract", "合同"),
            ("official_document", "Official document", "公文"),
            ("manual", "Manual and documentation", "说明书与技术文档"),
            ("proposal", "Proposal", "项目申请书"),
        ],
    ),
]

TASKS = [
    ("content_writing", "Content writing", "内容写作"),
    ("outlining", "Outlining", "大纲撰写"),
    ("polishing", "Polishing and editing", "润色与编辑"),
    ("style_transfer", "Style transfer", "风格迁移"),
    ("expanding", "Expanding", "扩写"),
    ("summarizing", "Simplifying and summarizing", "简写与摘要"),
    ("brainstorming", "Brainstorming", "头脑风暴"),
    ("reviewing", "Reviewing", "文学评论"),
]


def seed_taxonomy(domain_model, subdomain_model, task_model) -> int:
    """Create the missing taxonomy rows; return how many were created."""
    created = 0
    for d_pos, (slug, name_en, name_zh, subdomains) in enumerate(DOMAINS):
        domain, new = domain_model.objects.get_or_create(
            slug=slug, defaults={"name_en": name_en, "name_zh": name_zh, "position": d_pos}
        )
        created += new
        for s_pos, (s_slug, s_en, s_zh) in enumerate(subdomains):
            _, new = subdomain_model.objects.get_or_create(
                domain=domain,
                slug=s_slug,
                defaults={"name_en": s_en, "name_zh": s_zh, "position": s_pos},
            )
            created += new
    for t_pos, (slug, name_en, name_zh) in enumerate(TASKS):
        _, new = task_model.objects.get_or_create(
            slug=slug, defaults={"name_en": name_en, "name_zh": name_zh, "position": t_pos}
        )
        created += new
    return created
